// The dev provider: a fake outside provider speaking real protocols, so that in
// development and tests every message really travels over HTTP or SMTP to "somebody
// else", and a person running `npm start` can read what was "sent".
//
//   - SMS:   Twilio-shaped   POST /2010-04-01/Accounts/{sid}/Messages.json (form, basic auth)
//   - Push:  FCM-v1-shaped   POST /v1/projects/{project}/messages:send (JSON)
//   - Mail:  a real SMTP server (no auth) on its own port
//   - Inbox: GET / (HTML) and GET /messages (JSON, ?channel=&to=)
//
// Dev only: the inbox keeps message bodies in memory (at most 1 000 messages); nothing
// about a message — recipient or body — is ever written to the logs.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { log } from "../platform/logger.js";

export interface DevInboxMessage {
  id: string;
  channel: "sms" | "email" | "push";
  /** Phone (sms), address (email) or device token (push). */
  to: string;
  subject: string;
  body: string;
  receivedAt: Date;
}

export interface DevInbox {
  smsUrl: string;
  smtpUrl: string;
  pushUrl: string;
  webUrl: string;
  messages(filter?: { channel?: DevInboxMessage["channel"]; to?: string }): DevInboxMessage[];
  close(): Promise<void>;
}

export const DEV_INBOX_MAX_MESSAGES = 1000;
const MAX_HTTP_BODY = 1024 * 1024;
const MAX_MAIL_BYTES = 5 * 1024 * 1024;

export async function startDevInbox(port: number, host = "127.0.0.1"): Promise<DevInbox> {
  const store: DevInboxMessage[] = [];
  const add = (m: Omit<DevInboxMessage, "id" | "receivedAt">): DevInboxMessage => {
    const msg: DevInboxMessage = { id: randomUUID(), receivedAt: new Date(), ...m };
    store.push(msg);
    if (store.length > DEV_INBOX_MAX_MESSAGES) store.splice(0, store.length - DEV_INBOX_MAX_MESSAGES);
    return msg;
  };
  const list = (filter: { channel?: DevInboxMessage["channel"]; to?: string } = {}) =>
    store.filter((m) => (!filter.channel || m.channel === filter.channel) && (!filter.to || m.to === filter.to)).map((m) => ({ ...m }));

  const http = createServer((req, res) => {
    handleHttp(req, res, add, list).catch((err: unknown) => {
      log.warn({ err }, "dev inbox: request failed");
      if (!res.headersSent) json(res, 500, { error: "internal" });
      else res.end();
    });
  });
  await listen(http, port, host);
  const httpPort = (http.address() as AddressInfo).port;

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    banner: "fuel dev inbox",
    size: MAX_MAIL_BYTES,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_MAIL_BYTES) chunks.push(c);
      });
      stream.on("error", (err) => callback(err));
      stream.on("end", () => {
        if (stream.sizeExceeded || size > MAX_MAIL_BYTES) {
          const err = Object.assign(new Error("message too large"), { responseCode: 552 });
          return callback(err);
        }
        try {
          const parsed = parseMail(Buffer.concat(chunks).toString("latin1"));
          const rcpts = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          for (const to of rcpts) add({ channel: "email", to, subject: parsed.subject, body: parsed.text });
          callback();
        } catch (err) {
          callback(err as Error);
        }
      });
    },
  });
  smtp.on("error", (err) => log.warn({ err }, "dev inbox: smtp error"));
  await new Promise<void>((resolve, reject) => {
    smtp.server.once("error", reject);
    smtp.listen(0, host, () => {
      smtp.server.off("error", reject);
      resolve();
    });
  });
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const base = `http://${urlHost}:${httpPort}`;
  log.info({ web: base, smtpPort }, "dev inbox listening (dev only: messages kept in memory)");

  return {
    smsUrl: base,
    smtpUrl: `smtp://${urlHost}:${smtpPort}`,
    pushUrl: base,
    webUrl: base,
    messages: list,
    async close() {
      await Promise.all([
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        }),
        new Promise<void>((resolve) => smtp.close(() => resolve())),
      ]);
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

type Add = (m: Omit<DevInboxMessage, "id" | "receivedAt">) => DevInboxMessage;
type List = (filter?: { channel?: DevInboxMessage["channel"]; to?: string }) => DevInboxMessage[];

const SMS_PATH = /^\/2010-04-01\/Accounts\/([A-Za-z0-9]+)\/Messages\.json$/;
const PUSH_PATH = /^\/v1\/projects\/([A-Za-z0-9_.-]+)\/messages:send$/;

async function handleHttp(req: IncomingMessage, res: ServerResponse, add: Add, list: List): Promise<void> {
  const url = new URL(req.url ?? "/", "http://inbox");
  const method = req.method ?? "GET";

  if (method === "GET" && url.pathname === "/") {
    return html(res, renderInbox(list()));
  }
  if (method === "GET" && url.pathname === "/messages") {
    const channel = url.searchParams.get("channel");
    const to = url.searchParams.get("to") ?? undefined;
    const filter: { channel?: DevInboxMessage["channel"]; to?: string } = {
      channel: channel === "sms" || channel === "email" || channel === "push" ? channel : undefined,
      to,
    };
    return json(res, 200, { messages: list(filter).reverse() });
  }

  const sms = SMS_PATH.exec(url.pathname);
  if (sms) {
    if (method !== "POST") return json(res, 405, { code: 20004, message: "Method not allowed", status: 405 });
    const accountSid = sms[1]!;
    const auth = basicAuth(req.headers.authorization);
    if (!auth || auth.user !== accountSid || auth.pass === "") {
      return json(res, 401, { code: 20003, message: "Authenticate", more_info: "https://www.twilio.com/docs/errors/20003", status: 401 });
    }
    const raw = await readBody(req);
    if (raw === null) return json(res, 413, { code: 21617, message: "Request too large", status: 413 });
    const form = new URLSearchParams(raw);
    const to = form.get("To") ?? "";
    const from = form.get("From") ?? form.get("MessagingServiceSid") ?? "";
    const body = form.get("Body") ?? "";
    if (!/^\+[1-9]\d{7,14}$/.test(to)) {
      return json(res, 400, { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 });
    }
    if (from === "") return json(res, 400, { code: 21603, message: "A 'From' phone number is required.", status: 400 });
    if (body === "") return json(res, 400, { code: 21602, message: "Message body is required.", status: 400 });
    if (body.length > 1600) return json(res, 400, { code: 21617, message: "The concatenated message body exceeds the 1600 character limit.", status: 400 });
    add({ channel: "sms", to, subject: "", body });
    const sid = `SM${randomBytes(16).toString("hex")}`;
    const now = new Date().toUTCString();
    return json(res, 201, {
      sid,
      account_sid: accountSid,
      to,
      from,
      body,
      status: "queued",
      num_segments: String(Math.ceil(body.length / 153) || 1),
      direction: "outbound-api",
      date_created: now,
      date_updated: now,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    });
  }

  const push = PUSH_PATH.exec(url.pathname);
  if (push) {
    if (method !== "POST") return googleError(res, 405, "Method not allowed", "INVALID_ARGUMENT");
    if (!/^Bearer \S+$/.test(req.headers.authorization ?? "")) {
      return googleError(res, 401, "Request is missing required authentication credential.", "UNAUTHENTICATED");
    }
    const raw = await readBody(req);
    if (raw === null) return googleError(res, 413, "Request too large", "INVALID_ARGUMENT");
    let payload: { message?: { token?: unknown; notification?: { title?: unknown; body?: unknown }; data?: unknown } };
    try {
      payload = JSON.parse(raw) as typeof payload;
    } catch {
      return googleError(res, 400, "Invalid JSON payload received.", "INVALID_ARGUMENT");
    }
    const m = payload?.message;
    if (!m || typeof m.token !== "string" || m.token === "") {
      return googleError(res, 400, "Request contains an invalid argument: message.token", "INVALID_ARGUMENT");
    }
    if (m.data !== undefined && (typeof m.data !== "object" || m.data === null || Object.values(m.data).some((v) => typeof v !== "string"))) {
      return googleError(res, 400, "Invalid value at 'message.data': values must be strings", "INVALID_ARGUMENT");
    }
    const title = typeof m.notification?.title === "string" ? m.notification.title : "";
    const body = typeof m.notification?.body === "string" ? m.notification.body : "";
    add({ channel: "push", to: m.token, subject: title, body });
    return json(res, 200, { name: `projects/${push[1]}/messages/${randomUUID()}` });
  }

  return json(res, 404, { error: "not found" });
}

function basicAuth(header: string | undefined): { user: string; pass: string } | null {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? "");
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = decoded.indexOf(":");
  if (i < 0) return null;
  return { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_HTTP_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(body);
}

function googleError(res: ServerResponse, code: number, message: string, status: string): void {
  json(res, code, { error: { code, message, status } });
}

function html(res: ServerResponse, body: string): void {
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(body);
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function renderInbox(messages: DevInboxMessage[]): string {
  const rows = messages
    .slice()
    .reverse()
    .map(
      (m) => `<tr><td>${escapeHtml(m.receivedAt.toISOString())}</td><td>${m.channel}</td><td>${escapeHtml(m.to)}</td>` +
        `<td>${escapeHtml(m.subject)}</td><td><pre>${escapeHtml(m.body)}</pre></td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Fuel dev inbox</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}pre{margin:0;white-space:pre-wrap}</style></head>
<body><h1>Fuel dev inbox</h1><p>Development only: SMS, e-mail and push messages the services "sent" (newest first, at most ${DEV_INBOX_MAX_MESSAGES}). JSON: <a href="/messages">/messages</a></p>
<table><thead><tr><th>Received</th><th>Channel</th><th>To</th><th>Subject</th><th>Body</th></tr></thead>
<tbody>${rows || '<tr><td colspan="5">No messages yet.</td></tr>'}</tbody></table></body></html>`;
}

// --- a small MIME reader: enough for what nodemailer and ordinary clients send ---

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitPart(raw: string): Part {
  const sep = /\r?\n\r?\n/.exec(raw);
  const head = sep ? raw.slice(0, sep.index) : raw;
  const body = sep ? raw.slice(sep.index + sep[0].length) : "";
  const headers = new Map<string, string>();
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(i + 1).trim());
  }
  return { headers, body };
}

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function bytesToText(bytes: Buffer, charset: string | undefined): string {
  const cs = (charset ?? "utf-8").toLowerCase();
  try {
    return new TextDecoder(cs === "us-ascii" ? "utf-8" : cs).decode(bytes);
  } catch {
    return bytes.toString("utf8");
  }
}

function decodeTransfer(body: string, encoding: string | undefined): Buffer {
  const enc = (encoding ?? "7bit").toLowerCase();
  if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64");
  if (enc === "quoted-printable") {
    const soft = body.replace(/=\r?\n/g, "");
    const out: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      const c = soft[i]!;
      if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
        out.push(parseInt(soft.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(soft.charCodeAt(i) & 0xff);
    }
    return Buffer.from(out);
  }
  return Buffer.from(body, "latin1");
}

/** RFC 2047 encoded words (=?utf-8?Q?...?= / =?utf-8?B?...?=). */
export function decodeWords(value: string): string {
  const raw = Buffer.from(value, "latin1").toString("utf8");
  return raw
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, charset: string, enc: string, data: string) => {
      const bytes = enc.toUpperCase() === "B"
        ? Buffer.from(data, "base64")
        : decodeTransfer(data.replace(/_/g, " "), "quoted-printable");
      return bytesToText(bytes, charset);
    });
}

function textOf(part: Part): { text: string; html: string } {
  const type = part.headers.get("content-type") ?? "text/plain";
  const mime = type.split(";")[0]!.trim().toLowerCase();
  if (mime.startsWith("multipart/")) {
    const boundary = param(type, "boundary");
    if (!boundary) return { text: "", html: "" };
    const delim = `--${boundary}`;
    const pieces = part.body.split(delim).slice(1);
    let text = "";
    let htmlText = "";
    for (const piece of pieces) {
      if (piece.startsWith("--")) break;
      const sub = textOf(splitPart(piece.replace(/^\r?\n/, "").replace(/\r?\n$/, "")));
      if (!text && sub.text) text = sub.text;
      if (!htmlText && sub.html) htmlText = sub.html;
    }
    return { text, html: htmlText };
  }
  const decoded = bytesToText(decodeTransfer(part.body, part.headers.get("content-transfer-encoding")), param(type, "charset"));
  if (mime === "text/html") return { text: "", html: decoded };
  if (mime.startsWith("text/")) return { text: decoded, html: "" };
  return { text: "", html: "" };
}

/** Subject and plain-text body of a raw RFC 5322 message (HTML stripped if no text part). */
export function parseMail(raw: string): { subject: string; text: string } {
  const top = splitPart(raw);
  const subject = decodeWords(top.headers.get("subject") ?? "");
  const { text, html: htmlBody } = textOf(top);
  const body = text || htmlBody.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  return { subject, text: body.replace(/\r\n/g, "\n").replace(/\n$/, "") };
}
