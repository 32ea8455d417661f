// POS terminals: issue a credential for one of the merchant's stations (the secret is
// shown once, then forgotten) and revoke one by its client id. AuthService has no RPC
// that lists credentials, so the list is the ones issued in this tab.
import { MachineKind } from "../../../gen/fuel/auth/v1/auth_pb.js";
import { AuthService, type MachineCredential } from "../../../gen/fuel/auth/v1/auth_pb.js";
import { auth, may } from "../api.js";
import { emptyNote, field, form, h, panel, replace, table } from "../dom.js";
import { InputError } from "../errors.js";
import { when } from "../format.js";
import { myStations } from "./stations.js";

/** Credentials issued in this tab, without their secrets. */
const issued: MachineCredential[] = [];

function secretPanel(el: HTMLElement, cred: MachineCredential, secret: string): void {
  const value = h("code", { class: "secret", "data-testid": "client-secret" }, secret);
  const copy = h("button", { type: "button", onclick: () => void navigator.clipboard?.writeText(secret) }, "Copy the secret");
  const done = h("button", { type: "button", onclick: () => replace(el, h("p", { class: "muted" }, "The secret is hidden and cannot be shown again. Revoke the credential and issue a new one if it is lost.")) }, "I have stored it — hide it");
  replace(
    el,
    h(
      "div",
      { class: "once", role: "alert" },
      h("strong", null, "Copy this secret now: it is shown only once."),
      dlPair("Client id", h("code", { "data-testid": "client-id" }, cred.clientId)),
      dlPair("Client secret", value),
      h("div", { class: "actions" }, copy, done),
    ),
  );
  done.focus();
}

const dlPair = (k: string, v: HTMLElement) => h("p", null, h("span", { class: "muted" }, `${k}: `), v);

function issuedList(el: HTMLElement, rerender: () => void): void {
  replace(
    el,
    h("h2", null, "Issued in this session"),
    issued.length === 0
      ? emptyNote("None yet. The platform offers no list of existing credentials; revoke one by its client id below.")
      : table(["Label", "Client id", "Station", "Issued", ""], issued.map((c) => [c.label, h("code", null, c.clientId), c.stationId.slice(0, 8), when(c.createTime), c.active ? revokeButton(c, rerender) : "Revoked"])),
  );
}

function revokeButton(c: MachineCredential, rerender: () => void): HTMLElement {
  const b = h("button", { type: "button", class: "danger" }, "Revoke");
  b.addEventListener("click", () => {
    b.disabled = true;
    auth.revokeMachineCredential({ clientId: c.clientId }).then((r) => {
      Object.assign(c, { active: r.credential?.active ?? false });
      rerender();
    }, () => (b.disabled = false));
  });
  return b;
}

export function renderTerminals(main: HTMLElement): void {
  const issueBox = h("section", { class: "card" });
  const secret = h("div", { "aria-live": "polite" });
  const list = h("section", { class: "card" });
  const rerender = () => issuedList(list, rerender);
  const revokeBox = h("section", { class: "card" });
  replace(main, h("h1", null, "Terminals"), issueBox, secret, list, revokeBox);
  rerender();
  if (!may(AuthService.method.createMachineCredential)) return;
  void panel(issueBox, myStations, (all) => {
    if (all.length === 0) return emptyNote("No stations yet: a terminal belongs to a station.");
    const station = h("select", { name: "station" }, all.map((s) => h("option", { value: s.stationId }, s.name)));
    const label = h("input", { name: "label", required: true, maxlength: 100, placeholder: "e.g. Pump 3 terminal" });
    return [
      h("h2", null, "Issue a terminal credential"),
      form({ "aria-label": "Issue a terminal credential" }, [field("Station", station), field("Label", label)], "Issue", async (d) => {
        const s = all.find((x) => x.stationId === d.get("station"))!;
        const text = String(d.get("label") ?? "").trim();
        if (!text) throw new InputError("Give the terminal a label.");
        const r = await auth.createMachineCredential({ kind: MachineKind.POS_TERMINAL, stationId: s.stationId, merchantId: s.merchantId, label: text });
        issued.unshift(r.credential!);
        secretPanel(secret, r.credential!, r.clientSecret);
        rerender();
      }),
    ];
  });
  const clientId = h("input", { name: "clientId", required: true, maxlength: 100 });
  const note = h("div", { "aria-live": "polite" });
  replace(
    revokeBox,
    h("h2", null, "Revoke a credential"),
    form({ "aria-label": "Revoke a credential" }, [field("Client id", clientId)], "Revoke", async (d) => {
      const id = String(d.get("clientId") ?? "").trim();
      if (!id) throw new InputError("Enter the client id to revoke.");
      const r = await auth.revokeMachineCredential({ clientId: id });
      const known = issued.find((c) => c.clientId === id);
      if (known) known.active = false;
      rerender();
      replace(note, h("p", { class: "ok" }, `Revoked ${r.credential?.label ?? id}.`));
    }),
    note,
  );
}
