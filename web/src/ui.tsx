// ui.tsx holds the small pieces every page uses: errors, loading, buttons
// that show they are busy, time and size formatting.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.detail ? `${e.title}: ${e.detail}` : e.title;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {errorText(error)}
    </p>
  );
}

// useLoad runs load on mount and whenever deps change, and again on reload().
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(null)),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, reload };
}

// useAction wraps an async handler: busy while it runs, its error kept.
export function useAction<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A) => {
    setBusy(true);
    setError(null);
    try {
      await fn(...args);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, setError };
}

export function Button(props: { onClick?: () => void; busy?: boolean; kind?: "primary" | "danger" | "plain"; type?: "button" | "submit"; disabled?: boolean; label?: string; children: ComponentChildren }) {
  return (
    <button
      type={props.type || "button"}
      class={`btn ${props.kind || "plain"}`}
      onClick={props.onClick}
      disabled={props.disabled || props.busy}
      aria-busy={props.busy ? "true" : undefined}
      aria-label={props.label}
    >
      {props.children}
    </button>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p class="muted" role="status">
      Loading{what ? ` ${what}` : ""}…
    </p>
  );
}

export function when(t?: string | null): string {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleString();
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// download saves text as a file, with no request to any server.
export function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function Badge({ status, title }: { status?: string; title?: string }) {
  if (!status) return null;
  return (
    <span class={`badge ${status}`} title={title}>
      {status}
    </span>
  );
}

// Confirm is a destructive button that asks again in place (no modal
// dialog): the first press shows "confirm" and "cancel" buttons.
export function Confirm(props: { label: string; confirmLabel: string; busy?: boolean; onConfirm: () => void; children: string }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <Button kind="danger" label={props.label} busy={props.busy} onClick={() => setAsking(true)}>
        {props.children}
      </Button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={props.label}>
      <Button
        kind="danger"
        busy={props.busy}
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        {props.confirmLabel}
      </Button>
      <Button onClick={() => setAsking(false)}>Cancel</Button>
    </span>
  );
}
