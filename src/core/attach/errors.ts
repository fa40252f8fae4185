/** Errors of the attachment operations that callers act on. */
import { FanError } from '../errors.js';

/**
 * A veth could not be created because one of its names is taken: the host end's name in this namespace, or the
 * container interface's name in the container. Nothing was changed; the caller finds out which and whether it may
 * remove it (a leftover of the same container's earlier attachment).
 */
export class InterfaceExistsError extends FanError {
  override name = 'InterfaceExistsError';
}
