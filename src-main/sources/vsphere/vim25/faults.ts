/**
 * SOAP faults as one typed error: the fault's vim25 type (`NotAuthenticated`, `InvalidLogin`,
 * `InvalidArgument` …) is kept so callers branch on it, not on message text.
 */
import { child, childText, xsiType, type XmlNode } from './xml.js';

export class VimFault extends Error {
  constructor(
    /** The vim25 fault type, e.g. `InvalidArgument`. */
    readonly faultType: string,
    message: string,
    readonly method: string,
    /** For InvalidArgument: the property named. */
    readonly invalidProperty: string | null = null,
  ) {
    super(`${method}: ${faultType}: ${message}`);
    this.name = 'VimFault';
  }

  static is(err: unknown, type?: string): err is VimFault {
    return err instanceof VimFault && (type === undefined || err.faultType === type);
  }
}

/** Builds a VimFault from a `<soapenv:Fault>` element. */
export function faultFrom(fault: XmlNode, method: string): VimFault {
  const message = childText(fault, 'faultstring') || 'fault without message';
  const detail = child(fault, 'detail');
  let type = 'Fault';
  let invalidProperty: string | null = null;
  if (detail !== undefined && typeof detail === 'object') {
    for (const [key, value] of Object.entries(detail)) {
      if (key.startsWith('@_')) continue;
      type = xsiType(value) || key.replace(/^.*:/, '').replace(/Fault$/, '');
      invalidProperty = childText(value, 'invalidProperty') || null;
      break;
    }
  }
  return new VimFault(type, message, method, invalidProperty);
}
