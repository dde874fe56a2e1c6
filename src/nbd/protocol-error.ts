/**
 * A peer broke the framing (bad magic, absurd length, unknown client flag). The only
 * safe answer is to drop that connection: after a framing error nothing that follows
 * on the stream can be trusted. Codecs throw it; the server catches it per connection.
 */
import { ReboundError } from '../errors.js';

export class NbdProtocolError extends ReboundError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super('NBD_PROTOCOL', message, { detail });
    this.name = 'NbdProtocolError';
  }
}
