// Sign in with a phone and the one-time code sent to it (AuthService.RequestOtp, then
// the console's session endpoint, which calls VerifyOtp and keeps the refresh token in a
// cookie). In development the code is in the dev inbox.
import { auth } from "../api.js";
import { field, form, h, replace } from "../dom.js";
import { InputError } from "../errors.js";
import { signIn } from "../session.js";

const E164 = /^\+[1-9]\d{7,14}$/;

export function signInScreen(): HTMLElement {
  const box = h("section", { class: "signin card", "aria-labelledby": "signin-title" });
  const askPhone = () => {
    const phone = h("input", { name: "phone", type: "tel", autocomplete: "tel", required: true, placeholder: "+2348012345678", pattern: "\\+[1-9][0-9]{7,14}" });
    replace(
      box,
      h("h1", { id: "signin-title" }, "Sign in"),
      h("p", { class: "muted" }, "Bank credit officers, merchant admins and system admins. We send a code to your phone."),
      form({ "aria-label": "Request a code" }, [field("Phone number", phone, "International form, e.g. +2348012345678")], "Send code", async (d) => {
        const p = String(d.get("phone") ?? "").trim();
        if (!E164.test(p)) throw new InputError("enter the phone in international form, e.g. +2348012345678");
        await auth.requestOtp({ phone: p });
        askCode(p);
      }),
    );
    phone.focus();
  };
  const askCode = (phone: string) => {
    const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true, pattern: "[0-9]{6}", maxlength: 6 });
    replace(
      box,
      h("h1", { id: "signin-title" }, "Enter the code"),
      h("p", null, `We sent a 6-digit code to ${phone}. It is valid for 5 minutes.`),
      h("p", { class: "muted" }, "In development, read it in the dev inbox (http://localhost:8025 by default)."),
      form({ "aria-label": "Sign in with the code" }, [field("Code", code)], "Sign in", async (d) => {
        await signIn(phone, String(d.get("code") ?? "").trim());
      }),
      h("button", { type: "button", class: "link", onclick: askPhone }, "Use another phone"),
    );
    code.focus();
  };
  askPhone();
  return h("main", { id: "main", class: "center" }, box);
}
