// POS terminals: the credentials of the merchant's terminals (AuthService.
// ListMachineCredentials; active ones, or revoked too when asked), a revoke button on each
// active one, and a form to issue one for a station, its secret shown once and then
// forgotten.
import { AuthService, MachineKind, type MachineCredential } from "../../../gen/fuel/auth/v1/auth_pb.js";
import type { Station } from "../../../gen/fuel/station/v1/station_pb.js";
import { auth, may } from "../api.js";
import { emptyNote, field, form, h, panel, replace, table } from "../dom.js";
import { describeError, errorBox, InputError } from "../errors.js";
import { shortId, when } from "../format.js";
import { myStations } from "./stations.js";

const PAGE = 50;

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

/**
 * The terminals' list: newest first, a page at a time, revoked ones only when asked for.
 * Stations are named from `stations`; one not among them (or if they fail to load) shows
 * its short id.
 */
function terminalList(el: HTMLElement, stations: Promise<Station[]>): { reload(): void } {
  const showRevoked = h("input", { name: "showRevoked", type: "checkbox" });
  const body = h("div");
  const status = h("div", { "aria-live": "polite" });
  const names = stations.then((all) => new Map(all.map((s) => [s.stationId, s.name])), () => new Map<string, string>());
  let rows: MachineCredential[] = [];
  let next = "";

  const fetchPage = async (pageToken: string) => {
    const [r, n] = await Promise.all([
      auth.listMachineCredentials({ kind: MachineKind.POS_TERMINAL, includeRevoked: showRevoked.checked, pageSize: PAGE, pageToken }),
      names,
    ]);
    rows = pageToken ? [...rows, ...r.credentials] : r.credentials;
    next = r.nextPageToken;
    return n;
  };
  const show = (n: Map<string, string>) => {
    if (rows.length === 0) return emptyNote(showRevoked.checked ? "No terminal credentials issued yet." : "No active terminals.");
    const more = next ? h("button", { type: "button", onclick: () => void panel(body, () => fetchPage(next), show) }, "Show more") : null;
    return [
      table(["Label", "Station", "Client id", "Issued", "Active", ""], rows.map((c) => [
        c.label,
        n.get(c.stationId) ?? shortId(c.stationId),
        h("code", null, c.clientId),
        when(c.createTime),
        c.active ? "Yes" : "Revoked",
        c.active && may(AuthService.method.revokeMachineCredential) ? revokeButton(c, reload, status) : null,
      ])),
      more,
    ];
  };
  const reload = () => void panel(body, () => fetchPage(""), show);
  showRevoked.addEventListener("change", reload);
  replace(el, h("h2", null, "Terminals"), field("Show revoked", showRevoked), body, status);
  reload();
  return { reload };
}

function revokeButton(c: MachineCredential, reload: () => void, status: HTMLElement): HTMLElement {
  const b = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${c.label}` }, "Revoke");
  b.addEventListener("click", () => {
    b.disabled = true;
    replace(status);
    auth.revokeMachineCredential({ clientId: c.clientId }).then(
      (r) => {
        replace(status, h("p", { class: "ok" }, `Revoked ${r.credential?.label ?? c.label}.`));
        reload();
      },
      (err) => {
        b.disabled = false;
        replace(status, errorBox(describeError(err)));
      },
    );
  });
  return b;
}

export function renderTerminals(main: HTMLElement): void {
  const issueBox = h("section", { class: "card" });
  const secret = h("div", { "aria-live": "polite" });
  const listBox = h("section", { class: "card" });
  replace(main, h("h1", null, "Terminals"), issueBox, secret, listBox);
  const stations = myStations();
  const list = terminalList(listBox, stations);
  if (!may(AuthService.method.createMachineCredential)) return;
  void panel(issueBox, () => stations, (all) => {
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
        secretPanel(secret, r.credential!, r.clientSecret);
        list.reload();
      }),
    ];
  });
}
