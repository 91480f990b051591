import {terminalIo, type Io} from '../../lib/cli/context.js';

/** An Io whose raw bytes are kept, as a terminal (`tty`) or a pipe would receive them. */
export function capturedIo(tty: boolean): {io: Io; stderr: () => string; stdout: () => string} {
  let err = '';
  let out = '';
  const io = terminalIo({out: (text) => void (out += text), err: (text) => void (err += text), tty, columns: () => 200});
  return {io, stderr: () => err, stdout: () => out};
}

/**
 * What a terminal shows after receiving `raw`: the lines scrolled up (ended by \n) and the row the
 * cursor is on. Understands what edw writes: \r (to the row's start), ESC[2K (erase the row) and text
 * (written over what is there from the cursor on).
 */
export function screen(raw: string): {lines: string[]; row: string} {
  const lines: string[] = [];
  let row: string[] = [];
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\n') {
      lines.push(row.join(''));
      row = [];
      col = 0;
    } else if (c === '\r') {
      col = 0;
    } else if (raw.startsWith('\x1b[2K', i)) {
      row = row.map(() => ' ');
      i += 3;
    } else if (c === '\x1b') {
      throw new Error(`unexpected escape sequence at ${i}: ${JSON.stringify(raw.slice(i, i + 8))}`);
    } else {
      row[col++] = c;
    }
  }
  return {lines: lines.map((l) => l.trimEnd()), row: row.join('').trimEnd()};
}
