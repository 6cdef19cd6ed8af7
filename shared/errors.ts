/**
 * An error a user can act on: its message is one line naming the problem, and the CLI prints it as is
 * (no stack trace) before exiting non-zero. Anything else that escapes is a bug and is printed in full.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}
