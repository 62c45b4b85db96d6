/**
 * What JSON.parse cannot tell us about a request body, found in one pass over its text: nesting
 * depth, numbers whose value canonical JSON would change, names used twice in one object (JSON.parse
 * keeps the last one; RFC 8785 takes I-JSON, RFC 7493, which forbids them), and where replaced
 * invalid UTF-8 sits.
 * Each finding carries the path of the value, so the producer is told which field to fix.
 *
 * The text must already have passed JSON.parse: the scan trusts its grammar and only tracks where
 * it is. It never recurses, so a body nested 5 million levels deep costs one linear pass.
 */

export type JsonPath = (string | number)[];

export interface ScanFinding {
  readonly path: JsonPath;
  readonly message: string;
}

export interface ScanOptions {
  /** Levels above the values whose depth is limited: 2 for `{"events": [...]}`, 0 for one event. */
  readonly baseDepth: number;
  /** Deepest nesting allowed below `baseDepth`, the limited value itself being level 1. */
  readonly maxDepth: number;
  /** Ascending text indexes of characters that replaced invalid UTF-8. */
  readonly invalidUtf8At?: readonly number[];
  /** Stop after this many findings. */
  readonly maxFindings: number;
}

interface Frame {
  readonly array: boolean;
  /** Current element (arrays). */
  index: number;
  /** Current key as its quoted text span [start, end] (objects); decoded only when reported. */
  keyStart: number;
  keyEnd: number;
  /** Names seen so far in this object. */
  keys?: Set<string>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export function scanJsonText(text: string, options: ScanOptions): ScanFinding[] {
  const findings: ScanFinding[] = [];
  const marks = options.invalidUtf8At ?? [];
  let mark = 0;
  const stack: Frame[] = [];
  let expectKey = false;

  const keyOf = (f: Frame): string => {
    const quoted = text.slice(f.keyStart, f.keyEnd + 1);
    return quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
  };
  const path = (): JsonPath => stack.map((f) => (f.array ? f.index : keyOf(f)));
  const report = (message: string): boolean => {
    findings.push({ path: path(), message });
    return findings.length >= options.maxFindings;
  };

  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      const top = stack[stack.length - 1];
      if (top && !top.array && expectKey) {
        top.keyStart = i;
        top.keyEnd = end;
        expectKey = false;
        const key = keyOf(top);
        top.keys ??= new Set();
        if (top.keys.has(key)) {
          if (report('is a name used twice in the same object; JSON readers disagree on which value wins'))
            return findings;
        } else top.keys.add(key);
      }
      // Marks before this string are outside any string: impossible in text JSON.parse accepted.
      while (mark < marks.length && (marks[mark] as number) < i) mark += 1;
      if (mark < marks.length && (marks[mark] as number) < end) {
        if (report('is not valid UTF-8: the bytes sent here are not text')) return findings;
        while (mark < marks.length && (marks[mark] as number) < end) mark += 1;
      }
      i = end + 1;
    } else if (c === 0x7b || c === 0x5b) {
      // `{` or `[`: the container's own path is reported, before it is entered.
      const depth = stack.length + 1 - options.baseDepth;
      if (depth === options.maxDepth + 1) {
        if (report(`nests deeper than ${options.maxDepth} levels (the event itself is level 1)`))
          return findings;
      }
      stack.push({ array: c === 0x5b, index: 0, keyStart: 0, keyEnd: 0 });
      expectKey = c === 0x7b;
      i += 1;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      i += 1;
    } else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top?.array) top.index += 1;
      else expectKey = true;
      i += 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j += 1;
      const problem = numberProblem(text.slice(i, j));
      if (problem && report(problem)) return findings;
      i = j;
    } else {
      i += 1; // whitespace, `:`, and the letters of true/false/null
    }
  }
  return findings;
}

function closingQuote(text: string, open: number): number {
  let from = open + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length; // unterminated: cannot happen after JSON.parse, but never loop
    let backslashes = 0;
    for (let k = q - 1; text.charCodeAt(k) === BACKSLASH; k -= 1) backslashes += 1;
    if (backslashes % 2 === 0) return q;
    from = q + 1;
  }
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

/**
 * Why a JSON number cannot be stored as sent, or undefined when it can. Canonical JSON (RFC 8785)
 * writes a number as the shortest text of the nearest IEEE-754 double, so a value is kept when that
 * text denotes the same decimal value as the producer's: `1.50`, `1e2` and `-0` are kept (as `1.5`,
 * `100` and `0`), `12345678901234567890` and `0.1000000000000000000001` are not (they would become
 * `12345678901234567000` and `0.1`), and `1e400` is not a double at all.
 */
export function numberProblem(token: string): string | undefined {
  const value = Number(token);
  const written = String(value);
  if (written === token) return undefined;
  const sent = clip(token);
  if (!Number.isFinite(value)) {
    return `the number ${sent} is out of range: it is not a finite IEEE-754 double`;
  }
  if (decimalValue(written) === decimalValue(token)) return undefined;
  return (
    `the number ${sent} cannot be stored exactly: canonical JSON would write it as ${written}; ` +
    'send it as a string'
  );
}

/** A decimal's value in one normal form, `<sign><digits without leading/trailing zeros>e<exponent>`. */
function decimalValue(token: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!m) return token;
  const [, sign, int = '', frac = '', exp = '0'] = m;
  const digits = `${int}${frac}`.replace(/^0+/, '');
  if (digits === '') return '0'; // any zero, -0 included: the same value
  const significant = digits.replace(/0+$/, '');
  // BigInt: a producer may write an exponent of any length; Number would round it.
  const exponent = BigInt(exp) - BigInt(frac.length) + BigInt(digits.length - significant.length);
  return `${sign}${significant}e${exponent}`;
}

function clip(token: string): string {
  return token.length <= 40 ? token : `${token.slice(0, 37)}...`;
}
