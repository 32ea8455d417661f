// The console's shell: sign-in, the header and navigation for the signed-in role, and a
// hash router (#/kyc, #/credit/driver/<id>, …) over the screens in screens/.
import { Code, ConnectError } from "@connectrpc/connect";
import { h, replace } from "./dom.js";
import { describeError, errorBox } from "./errors.js";
import { roleName, SCREEN_ROLES, SCREEN_TITLES, screensFor, type ScreenId } from "./roles.js";
import { onSessionChange, refresh, session, signOut } from "./session.js";
import { signInScreen } from "./screens/signin.js";
import { SCREENS } from "./screens/index.js";

const app = document.getElementById("app")!;

function route(): { screen: string; args: string[] } {
  const [screen = "", ...args] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { screen, args };
}

function header(): HTMLElement {
  const s = session()!;
  const p = s.principal;
  const org = p.bankId ? `bank ${p.bankId.slice(0, 8)}` : p.merchantId ? `merchant ${p.merchantId.slice(0, 8)}` : p.agencyId ? `agency ${p.agencyId.slice(0, 8)}` : "";
  const current = route().screen;
  return h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "F"), " Fuel clearinghouse ", h("span", { class: "muted" }, "back office")),
    h(
      "div",
      { class: "who" },
      h("span", { class: "role", "data-testid": "role" }, roleName(p.role)),
      org ? h("span", { class: "muted" }, ` · ${org}`) : null,
      h("button", { type: "button", class: "link", onclick: () => void signOut() }, "Sign out"),
    ),
    h(
      "nav",
      { "aria-label": "Screens" },
      screensFor(p.role).map((id) => h("a", { href: `#/${id}`, "aria-current": id === current ? "page" : null }, SCREEN_TITLES[id])),
    ),
  );
}

/** A screen the role may not use: say so, and show that the server refuses it as well. */
function forbidden(main: HTMLElement, id: ScreenId): void {
  const p = session()!.principal;
  const outcome = h("div", { "data-testid": "server-answer" }, h("p", { class: "muted", role: "status" }, "Asking the server anyway…"));
  replace(
    main,
    h("h1", null, SCREEN_TITLES[id]),
    h(
      "div",
      { class: "notice", role: "alert", "data-testid": "forbidden" },
      h("strong", null, "This screen is not for your role."),
      h("p", null, `It is for: ${SCREEN_ROLES[id].map(roleName).join(", ")}. You are signed in as ${roleName(p.role)}.`),
    ),
    outcome,
  );
  SCREENS[id]
    .probe()
    .then(() => replace(outcome, h("p", null, "The server answered, but this screen is still not offered to your role.")))
    .catch((err) => {
      const x = describeError(err);
      replace(outcome, h("p", null, ConnectError.from(err).code === Code.PermissionDenied ? "The server refused as well:" : "The server's answer:"), errorBox(x));
    });
}

function render(): void {
  const s = session();
  if (!s) {
    replace(app, signInScreen());
    return;
  }
  const allowed = screensFor(s.principal.role);
  let { screen, args } = route();
  if (!screen) {
    if (allowed[0]) return void (location.hash = `#/${allowed[0]}`);
  }
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(app, header(), main);
  if (!screen) {
    replace(main, h("h1", null, "Nothing here for your role"), h("p", { class: "notice" }, `You are signed in as ${roleName(s.principal.role)}. The back office has screens for bank credit officers, merchant admins and system admins only.`));
    return;
  }
  if (!(screen in SCREENS)) {
    replace(main, h("h1", null, "No such screen"), h("p", null, h("a", { href: "#/" }, "Back to the start")));
    return;
  }
  const id = screen as ScreenId;
  if (!allowed.includes(id)) return forbidden(main, id);
  document.title = `${SCREEN_TITLES[id]} · Fuel back office`;
  SCREENS[id].render(main, args);
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", render);
onSessionChange(render);

// A reload keeps the session through the refresh cookie; without one, sign in.
replace(app, h("p", { class: "muted boot", role: "status" }, "Loading…"));
refresh()
  .catch(() => false)
  .then(() => render());
