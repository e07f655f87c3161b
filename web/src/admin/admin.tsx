// admin.tsx is the admin console: one tab per concern, each in its own
// file, chosen by the URL's hash (#/admin/TAB, and #/admin/models/NAME for
// one model's details).

import type { Session } from "../session";
import { AuditTab } from "./audit";
import { KeysTab } from "./keys";
import { ModelsTab } from "./models";
import { QuotasTab } from "./quotas";
import { SealingTab } from "./sealing";
import { UsageTab } from "./usage";
import { UsersTab } from "./users";
import "./admin.css";

const tabs: [string, string][] = [
  ["users", "Users"],
  ["keys", "API keys"],
  ["sealing", "Sealing keys"],
  ["models", "Models"],
  ["usage", "Usage"],
  ["quotas", "Quotas"],
  ["audit", "Audit log"],
];

// sub is the hash's part after #/admin/TAB/, if any.
function sub(): string | undefined {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  return parts[2] ? decodeURIComponent(parts[2]) : undefined;
}

export function Admin({ session, tab }: { session: Session; tab: string }) {
  const known = tabs.some(([id]) => id === tab);
  const current = known ? tab : "users";
  return (
    <main class="page admin">
      <h1>Admin</h1>
      <nav class="tabs" aria-label="Admin">
        {tabs.map(([id, label]) => (
          <a key={id} href={`#/admin/${id}`} aria-current={current === id ? "page" : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {current === "users" && <UsersTab session={session} />}
      {current === "keys" && <KeysTab />}
      {current === "sealing" && <SealingTab />}
      {current === "models" && <ModelsTab model={sub()} />}
      {current === "usage" && <UsageTab />}
      {current === "quotas" && <QuotasTab />}
      {current === "audit" && <AuditTab />}
    </main>
  );
}
