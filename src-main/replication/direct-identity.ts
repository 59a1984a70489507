/**
 * Per-job identities for the direct transport: the engine mints a fresh ECDSA P-256 key pair and
 * self-signed certificate for each end of a job, so a key never outlives its job and nothing has
 * to be trusted beyond the two fingerprints exchanged over the SSH control channel.
 */
import { generate } from 'selfsigned';
import { certFingerprint, type PinnedPeer, type TlsIdentity } from './wire/direct.js';

/** A minted identity with its fingerprint (what the other end pins). */
export interface MintedIdentity extends TlsIdentity {
  fingerprint: string;
}

/**
 * Validity starts a day back and ends a week ahead: the certificates are pinned, so dates only
 * have to survive some clock skew between the engine and the host.
 */
const SKEW_MS = 24 * 3600 * 1000;
const LIFETIME_MS = 7 * 24 * 3600 * 1000;

export async function mintIdentity(name: string): Promise<MintedIdentity> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - SKEW_MS),
    notAfterDate: new Date(now + LIFETIME_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    ],
  });
  return { key: pems.private, cert: pems.cert, fingerprint: certFingerprint(pems.cert) };
}

/** How the other end pins `identity`. */
export function pinOf(identity: MintedIdentity): PinnedPeer {
  return { cert: identity.cert, fingerprint: identity.fingerprint };
}
