/**
 * One-line, timestamped log records with the component that wrote them, e.g.
 *   12:03:04 coordinator  round 3/5: accuracy 0.8712 ...
 * Set FEDFUSION_LOG=json for one JSON object per line (for log shippers).
 */
export type Logger = (line: string) => void;

export function createLogger(component: string, stream: NodeJS.WritableStream = process.stdout): Logger {
  const json = process.env.FEDFUSION_LOG === "json";
  return (line: string) => {
    const now = new Date();
    if (json) {
      stream.write(JSON.stringify({ time: now.toISOString(), component, message: line }) + "\n");
    } else {
      stream.write(`${now.toISOString().slice(11, 19)} ${component.padEnd(12)} ${line}\n`);
    }
  };
}

export const silentLogger: Logger = () => {};
