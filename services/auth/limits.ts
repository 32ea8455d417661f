// Quotas of AuthService (Redis-backed through platform/ratelimit.ts). Per-IP budgets are
// generous because mobile carriers put many users behind one address (CGNAT); the per
// phone budget is what protects a person's phone and our SMS bill.
export const OTP_SENDS_PER_PHONE = { name: "otp-send-phone", points: 3, durationS: 600 } as const;
export const OTP_SENDS_PER_IP = { name: "otp-send-ip", points: 50, durationS: 600 } as const;
export const OTP_VERIFIES_PER_IP = { name: "otp-verify-ip", points: 100, durationS: 600 } as const;
export const CLIENT_CREDENTIAL_FAILURES_PER_IP = { name: "cc-fail-ip", points: 20, durationS: 900 } as const;
