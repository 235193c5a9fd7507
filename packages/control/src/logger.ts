import { pino, type Logger } from "pino";

export function createLogger(name: string, level = process.env.CUMULUS_LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level, base: { svc: name } });
}
