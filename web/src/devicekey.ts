// devicekey.ts keeps this browser's device key: an age hybrid post-quantum
// identity (ML-KEM-768 + X25519) that opens the user's sealed history. The
// server only ever sees its public half (the recipient).
//
// Where the key comes from:
//   - passkey: the passkey's PRF output (see webauthn.ts) is the identity's
//     32-byte seed, so the same passkey gives the same key on any device;
//   - local: a random identity made in this browser;
//   - imported: an identity the user pasted (exported from another device).
//
// Where it is kept: IndexedDB holds the identity encrypted with AES-GCM
// under a non-extractable CryptoKey stored beside it, so the key's bytes
// cannot be read out of the browser's storage by copying it, and a reload
// opens the history without another passkey prompt. "Forget" deletes both.

import { bech32 } from "@scure/base";
import { Decrypter, identityToRecipient, generateHybridIdentity } from "age-encryption";

export type Mode = "passkey" | "local" | "imported";

export interface DeviceKey {
  identity: string;
  recipient: string;
  mode: Mode;
}

interface Stored {
  user: string;
  recipient: string;
  mode: Mode;
  wrapKey: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  sealed: ArrayBuffer;
}

const DB = "silo";
const STORE = "device-keys";

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "user" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const d = await db();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = d.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    d.close();
  }
}

// fromPRF turns a passkey's 32-byte PRF output into an age identity.
export function fromPRF(prf: Uint8Array): string {
  if (prf.length !== 32) throw new Error(`the passkey's PRF output is ${prf.length} bytes, not 32`);
  return bech32.encodeFromBytes("AGE-SECRET-KEY-PQ-", prf).toUpperCase();
}

// parseIdentity checks a pasted or exported identity and returns it with
// its recipient. Comment lines (#) and blank lines are skipped, as age does.
export async function parseIdentity(text: string): Promise<DeviceKey> {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (lines.length !== 1 || !lines[0].startsWith("AGE-SECRET-KEY-PQ-1")) {
    throw new Error("expected one post-quantum age identity (AGE-SECRET-KEY-PQ-1...)");
  }
  let recipient: string;
  try {
    recipient = await identityToRecipient(lines[0]);
  } catch {
    throw new Error("that is not a valid age identity");
  }
  return { identity: lines[0], recipient, mode: "imported" };
}

export async function generate(): Promise<DeviceKey> {
  const identity = await generateHybridIdentity();
  return { identity, recipient: await identityToRecipient(identity), mode: "local" };
}

export async function derive(prf: Uint8Array): Promise<DeviceKey> {
  const identity = fromPRF(prf);
  return { identity, recipient: await identityToRecipient(identity), mode: "passkey" };
}

export async function save(user: string, key: DeviceKey): Promise<void> {
  const wrapKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(user) }, wrapKey, new TextEncoder().encode(key.identity));
  const rec: Stored = { user, recipient: key.recipient, mode: key.mode, wrapKey, iv, sealed };
  await tx("readwrite", (s) => s.put(rec));
}

export async function load(user: string): Promise<DeviceKey | null> {
  const rec = (await tx("readonly", (s) => s.get(user))) as Stored | undefined;
  if (!rec) return null;
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: rec.iv, additionalData: new TextEncoder().encode(user) }, rec.wrapKey, rec.sealed);
  return { identity: new TextDecoder().decode(pt), recipient: rec.recipient, mode: rec.mode };
}

export async function forget(user: string): Promise<void> {
  await tx("readwrite", (s) => s.delete(user));
}

// exportText is the identity as an age identity file: `age -d -i FILE`
// opens an export of the user's history with it.
export function exportText(key: DeviceKey, userName: string): string {
  return `# silo device key of ${userName}\n# public key: ${key.recipient}\n${key.identity}\n`;
}

// Message is a stored message's sealed plaintext (internal/conversation).
export interface Message {
  conversation: string;
  role: "user" | "assistant";
  content: string;
  model?: string;
  time: string;
}

// open decrypts one stored message and checks that it belongs to the
// conversation it was listed under (the server could move blobs).
export async function open(identity: string, sealedB64: string, conversation: string): Promise<Message> {
  const bin = Uint8Array.from(atob(sealedB64), (c) => c.charCodeAt(0));
  const d = new Decrypter();
  d.addIdentity(identity);
  const text = await d.decrypt(bin, "text");
  const msg = JSON.parse(text) as Message;
  if (msg.conversation !== conversation) throw new Error("this message belongs to another conversation");
  return msg;
}
