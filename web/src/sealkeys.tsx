// sealkeys.tsx draws a table of sealing keys (device or backup): name,
// fingerprint, when added, live or revoked, and a revoke control for each
// live key. The Account page and the admin console's Sealing tab share it.

import type { ComponentChildren } from "preact";
import type { SealKey } from "./api";
import { when } from "./ui";

export function SealKeyTable(props: {
  keys: SealKey[];
  // revoke draws the control for one live key.
  revoke: (k: SealKey) => ComponentChildren;
  // note adds to a key's name (e.g. "this browser").
  note?: (k: SealKey) => string;
  testid?: string;
}) {
  return (
    <table class="stack" data-testid={props.testid}>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Fingerprint</th>
          <th scope="col">Added</th>
          <th scope="col">Status</th>
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {props.keys.map((k) => (
          <tr key={k.id} class={k.revoked ? "dim" : undefined}>
            <th scope="row">
              {k.name}
              {props.note?.(k)}
            </th>
            <td data-label="Fingerprint">
              <code class="wrap">{k.fingerprint}</code>
            </td>
            <td data-label="Added">{when(k.created_at)}</td>
            <td data-label="Status">{k.revoked ? `revoked ${when(k.revoked_at)}` : "live"}</td>
            <td>{!k.revoked && props.revoke(k)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
