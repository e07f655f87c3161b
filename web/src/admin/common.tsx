// common.tsx holds what several admin tabs share: the user list and the
// id-to-name lookup, copying to the clipboard, and number formatting.

import { useState } from "preact/hooks";
import { get, type User } from "../api";
import { Button, useLoad } from "../ui";

// useUsers loads every user (admin only), for names and pickers.
export function useUsers() {
  const users = useLoad(() => get<{ users: User[] }>("/users").then((r) => r.users));
  const byId = new Map((users.data || []).map((u) => [u.id, u]));
  const name = (id?: string) => (id ? byId.get(id)?.name || `${id.slice(0, 8)}…` : "—");
  return { ...users, byId, name };
}

export function copy(text: string) {
  navigator.clipboard?.writeText(text).catch(() => undefined);
}

// CopyButton copies text and says so for a moment.
export function CopyButton({ text, label }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <Button
      label={label}
      onClick={() => {
        copy(text);
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? "Copied" : "Copy"}
    </Button>
  );
}

const fmt = new Intl.NumberFormat();

export function num(n?: number | null): string {
  return n === undefined || n === null ? "—" : fmt.format(n);
}

// short writes a large count compactly (1.2k, 3.4M, 7.0B).
export function short(n: number): string {
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "B"],
    [1e6, "M"],
    [1e3, "k"],
  ];
  for (const [v, s] of units) if (Math.abs(n) >= v) return `${(n / v).toFixed(n / v >= 100 ? 0 : 1)}${s}`;
  return String(n);
}

export function duration(seconds: number): string {
  if (!isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
