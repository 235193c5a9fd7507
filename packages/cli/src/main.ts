// Entry point of the `cumulus` command (bin/cumulus.js imports this file).
import { run } from "./cli.ts";

let interrupts = 0;
const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  onInterrupt(handler) {
    const onSigint = () => {
      // A second Ctrl-C does not wait for the transfer to wind down.
      if (++interrupts > 1) process.exit(130);
      handler();
    };
    process.on("SIGINT", onSigint);
    return () => process.off("SIGINT", onSigint);
  },
});

// `cumulus ls | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(code);
});
process.exitCode = code;
