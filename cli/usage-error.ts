/** Bad command-line usage: the CLI prints the message and the command's help, and exits 2. */
export class UsageError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
