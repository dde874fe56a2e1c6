/** The logging surface the NBD server needs; pino's Logger satisfies it. */
export interface NbdLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const noop = (): void => {};

/** The default: says nothing. */
export const silentLogger: NbdLogger = { debug: noop, info: noop, warn: noop, error: noop };
