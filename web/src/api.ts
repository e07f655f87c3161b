// api.ts talks to silo's own API (/api/v1) and to /v1 from the browser.
// Authentication is the __Host-silo_session cookie (HttpOnly, set by a
// passkey sign-in); every unsafe request carries the session's CSRF token.
// Before a session exists (first-admin bootstrap) an API key held in memory
// only can stand in, as a bearer token.

export class ApiError extends Error {
  status: number;
  type: string;
  title: string;
  detail: string;
  constructor(status: number, type: string, title: string, detail: string) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.type = type;
    this.title = title;
    this.detail = detail;
  }
}

let csrf = "";
let bearer = "";

export function setCSRF(token: string) {
  csrf = token;
}

// useBearer makes every request carry an API key instead of the cookie
// (only during bootstrap, before the first passkey exists).
export function useBearer(key: string) {
  bearer = key;
}

export function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (bearer) h["Authorization"] = `Bearer ${bearer}`;
  else if (csrf) h["X-CSRF-Token"] = csrf;
  return h;
}

// problem turns an error answer (problem+json on /api/v1, an OpenAI error
// object on /v1) into an ApiError.
export async function problem(res: Response): Promise<ApiError> {
  let body: any = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: keep the status line.
  }
  if (body && body.error && typeof body.error === "object") {
    return new ApiError(res.status, body.error.type || "error", body.error.message || res.statusText, "");
  }
  if (body && typeof body.title === "string") {
    // A validation failure lists what is wrong in errors.
    const errs = Array.isArray(body.errors) ? body.errors.join("; ") : "";
    const detail = [body.detail, errs].filter(Boolean).join(": ");
    return new ApiError(res.status, body.type || "about:blank", body.title, detail);
  }
  return new ApiError(res.status, "about:blank", `${res.status} ${res.statusText}`, "");
}

export async function call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(), credentials: "same-origin" };
  if (body !== undefined) {
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/api/v1${path}`, init);
  if (!res.ok) throw await problem(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T = any>(path: string) => call<T>("GET", path);
export const post = <T = any>(path: string, body?: unknown) => call<T>("POST", path, body);
export const put = <T = any>(path: string, body: unknown) => call<T>("PUT", path, body);
export const patch = <T = any>(path: string, body: unknown) => call<T>("PATCH", path, body);
export const del = (path: string) => call<void>("DELETE", path);

// sse reads a text/event-stream answer, calling onEvent for each event.
export async function sse(res: Response, onEvent: (event: string, data: string) => void) {
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}

// Types of the API's answers (api/openapi.yaml).

export interface User {
  id: string;
  name: string;
  email?: string;
  role: "admin" | "user";
  created_at: string;
  disabled: boolean;
}

export interface SealKey {
  id: string;
  kind: "device" | "admin" | "backup";
  user_id?: string;
  name: string;
  recipient: string;
  fingerprint: string;
  created_at: string;
  revoked_at?: string;
  revoked: boolean;
}

export interface Model {
  id: string;
  engine: string;
  owned_by?: string;
  embeddings: boolean;
  served?: boolean;
  status?: "verified" | "unverified" | "refused";
  reason?: string;
}

export interface SignedIn {
  user: User;
  csrf_token: string;
}
