// session.ts signs in and out, and sets up this browser's device key after
// a sign-in: the stored key if there is one, else the passkey's PRF output,
// else a new key made in the browser; its public half is registered with
// the server so that new messages are sealed to it.

import { ApiError, get, post, setCSRF, useBearer, type SealKey, type SignedIn, type User } from "./api";
import * as devicekey from "./devicekey";
import * as webauthn from "./webauthn";

export interface Session {
  user: User;
  key: devicekey.DeviceKey | null;
  // keyState says whether the server still seals new messages to key.
  keyState: "live" | "revoked" | "missing";
  restricted: boolean;
}

// resume finds the session of a page that (re)loaded: the cookie is
// HttpOnly, so ask the server.
export async function resume(): Promise<Session | null> {
  let user: User;
  try {
    user = await get<User>("/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
  const sessions = await get<{ sessions: { current: boolean; restricted: boolean }[]; csrf_token?: string }>("/sessions");
  if (sessions.csrf_token) setCSRF(sessions.csrf_token);
  const restricted = sessions.sessions.some((s) => s.current && s.restricted);
  if (restricted) return { user, key: null, keyState: "missing", restricted };
  const key = await devicekey.load(user.id);
  return { user, key, keyState: key ? await keyState(key) : "missing", restricted };
}

// keyState asks the server whether key is one of the caller's live device
// keys.
export async function keyState(key: devicekey.DeviceKey): Promise<Session["keyState"]> {
  const { keys } = await get<{ keys: SealKey[] }>("/keys/devices");
  const mine = keys.filter((k) => k.recipient === key.recipient);
  if (mine.some((k) => !k.revoked)) return "live";
  return mine.length ? "revoked" : "missing";
}

// adopt makes key this browser's device key for user: kept in IndexedDB,
// registered with the server unless it is already.
export async function adopt(user: User, key: devicekey.DeviceKey): Promise<Session["keyState"]> {
  let state = await keyState(key);
  if (state === "missing") {
    const name = key.mode === "passkey" ? "Browser: from passkey" : key.mode === "imported" ? "Browser: imported" : "Browser: made here";
    await post("/keys/devices", { name, recipient: key.recipient });
    state = "live";
  }
  await devicekey.save(user.id, key);
  return state;
}

// afterSignIn sets up the device key once a session exists.
export async function afterSignIn(signed: SignedIn, prf: Uint8Array | null): Promise<Session> {
  setCSRF(signed.csrf_token);
  useBearer("");
  const s = await resume();
  if (!s) throw new Error("the server did not keep the session (are cookies blocked?)");
  if (s.restricted || s.key) return s;
  const key = prf ? await devicekey.derive(prf) : await devicekey.generate();
  s.keyState = await adopt(s.user, key);
  s.key = key;
  return s;
}

// signIn runs a passkey sign-in; totp is the code when the account has one.
export async function signIn(name: string, totp: string): Promise<Session> {
  const options = await post("/sessions/login/begin", name ? { name } : {});
  const { credential, prf } = await webauthn.get(options.options);
  const body: Record<string, unknown> = { credential };
  if (totp) body.totp_code = totp;
  const signed = await post<SignedIn>("/sessions/login/finish", body);
  return afterSignIn(signed, prf);
}

export async function signOut(): Promise<void> {
  await post("/sessions/logout");
  setCSRF("");
}
