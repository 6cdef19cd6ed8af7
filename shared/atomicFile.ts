/**
 * Files written beside and renamed into place: a reader (a resuming coordinator, a browser refreshing a chart,
 * a dashboard) sees the old file or the new one, never half of one.
 */
import { promises as fs } from "node:fs";

export async function writeFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}
