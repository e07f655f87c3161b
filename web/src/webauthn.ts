// webauthn.ts runs the browser side of passkey ceremonies. The server sends
// {"publicKey": ...} options with base64url binary fields; the answer sent
// back is the credential's toJSON() with every extension output removed but
// credProps, so that a PRF output (a device key) never leaves the browser.

// PRF_SALT is the PRF input that derives the device key: SHA-256 of a fixed,
// versioned label, the same on every device, so one passkey gives one key.
const PRF_LABEL = "silo device key v1";

async function prfSalt(): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(PRF_LABEL)));
}

type Options = { publicKey: any };

// credentialJSON is what the server accepts (api/openapi.yaml
// WebAuthnCredential): no extension output besides credProps.
function credentialJSON(cred: PublicKeyCredential): any {
  const json = (cred as any).toJSON();
  const ext = json.clientExtensionResults || {};
  json.clientExtensionResults = ext.credProps ? { credProps: ext.credProps } : {};
  return json;
}

export function supported(): boolean {
  return typeof window.PublicKeyCredential !== "undefined" && typeof (PublicKeyCredential as any).parseCreationOptionsFromJSON === "function";
}

// create makes a passkey and asks the authenticator to enable PRF on it
// (CTAP2 hmac-secret must be enabled when the credential is made), and to
// evaluate it already where the authenticator can.
export async function create(options: Options): Promise<Assertion> {
  const publicKey = (PublicKeyCredential as any).parseCreationOptionsFromJSON(options.publicKey);
  publicKey.extensions = { ...(publicKey.extensions || {}), prf: { eval: { first: await prfSalt() } } };
  const cred = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
  if (!cred) throw new Error("no passkey was created");
  return { credential: credentialJSON(cred), prf: prfOutput(cred) };
}

function prfOutput(cred: PublicKeyCredential): Uint8Array | null {
  const first = (cred.getClientExtensionResults() as any)?.prf?.results?.first;
  if (!first) return null;
  return first instanceof ArrayBuffer ? new Uint8Array(first) : new Uint8Array((first as ArrayBufferView).buffer.slice(0));
}

export interface Assertion {
  credential: any;
  // prf is the PRF output for PRF_SALT when the authenticator supports
  // PRF; it stays in the browser.
  prf: Uint8Array | null;
}

// get signs in with a passkey and evaluates the PRF when it can.
export async function get(options: Options): Promise<Assertion> {
  const publicKey = (PublicKeyCredential as any).parseRequestOptionsFromJSON(options.publicKey);
  publicKey.extensions = { ...(publicKey.extensions || {}), prf: { eval: { first: await prfSalt() } } };
  const cred = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null;
  if (!cred) throw new Error("no passkey was chosen");
  return { credential: credentialJSON(cred), prf: prfOutput(cred) };
}
