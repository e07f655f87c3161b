// admin.tsx is the admin console: one tab per concern, each in its own file.

import type { Session } from "../session";

const tabs: [string, string][] = [
  ["users", "Users"],
  ["keys", "API keys"],
  ["sealing", "Sealing keys"],
  ["models", "Models"],
  ["usage", "Usage"],
  ["audit", "Audit log"],
];

export function Admin({ tab }: { session: Session; tab: string }) {
  return (
    <main class="page">
      <h1>Admin</h1>
      <nav class="tabs" aria-label="Admin">
        {tabs.map(([id, label]) => (
          <a key={id} href={`#/admin/${id}`} aria-current={tab === id ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
    </main>
  );
}
