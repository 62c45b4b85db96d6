/**
 * A plain-text table: section rows (a title and its own column headings) and data rows (a label and
 * right-aligned cells). Columns are as wide as their widest cell across the whole table.
 */

export type Row =
  | { readonly kind: 'section'; readonly title: string; readonly columns: readonly string[] }
  | { readonly kind: 'row'; readonly label: string; readonly cells: readonly string[] }
  | { readonly kind: 'note'; readonly text: string };

export function renderTable(title: string, rows: readonly Row[]): string {
  const labelWidth = Math.max(
    ...rows.map((r) => (r.kind === 'section' ? r.title.length : r.kind === 'row' ? r.label.length + 2 : 0)),
  );
  const widths: number[] = [];
  for (const r of rows) {
    const cells = r.kind === 'section' ? r.columns : r.kind === 'row' ? r.cells : [];
    cells.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  const total = labelWidth + widths.reduce((s, w) => s + w + 2, 0);
  const line = (label: string, cells: readonly string[]) =>
    `${label.padEnd(labelWidth)}${cells.map((c, i) => `  ${c.padStart(widths[i] ?? 0)}`).join('')}`.trimEnd();
  const out = [title, '='.repeat(Math.min(total, Math.max(title.length, total)))];
  for (const r of rows) {
    if (r.kind === 'section') {
      out.push('', line(r.title, r.columns), '-'.repeat(total));
    } else if (r.kind === 'row') {
      out.push(line(`  ${r.label}`, r.cells));
    } else {
      out.push(...wrap(r.text, Math.max(60, total - 2)).map((l) => `  ${l}`));
    }
  }
  return `${out.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '—';
  return digits === 0
    ? integer.format(value)
    : new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(
        value,
      );
}

/** Dollars with enough digits to tell small lines apart. */
export function usd(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '$0';
  const digits = value >= 10 ? 2 : value >= 1 ? 3 : value >= 0.01 ? 4 : 5;
  return `$${value.toFixed(digits)}`;
}

export function times(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—';
}
