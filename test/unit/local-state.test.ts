import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalState, readLocalState, writeLocalState } from '../../local/local-state.js';

describe('writeLocalState', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('takes many writes at once: none fails, the last call wins, no temporary file is left', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pushrail-state-'));
    const state = (n: number) => ({ apiUrl: `http://127.0.0.1:${3000 + n}` }) as unknown as LocalState;
    await Promise.all(Array.from({ length: 20 }, (_, n) => writeLocalState(dir as string, state(n))));
    expect((await readLocalState(dir))?.apiUrl).toBe('http://127.0.0.1:3019');
    expect(await readdir(dir)).toEqual(['local.json']);
  });
});
