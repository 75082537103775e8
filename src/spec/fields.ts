/**
 * Field types shared by the spec schema. Every value that can reach keepalived.conf or a command
 * line is restricted here to a character set that needs no quoting or escaping anywhere, so that
 * nothing a user writes can inject text into a rendered file.
 */
import { z } from 'zod';

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._+@/-]*$/;
// Printable ASCII without space, quotes, backslash, braces or `#`/`!` (keepalived comment starters).
const SAFE_TOKEN = /^[A-Za-z0-9._~:/?&=%+,@;$*()[\]^|<>-]+$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function shown(value: string): string {
  return value.length > 40 ? JSON.stringify(value.slice(0, 40)) + '…' : JSON.stringify(value);
}

export function intInRange(min: number, max: number, hint = '') {
  return z.number().superRefine((value, ctx) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `${value} is out of range ${min}..${max}${hint}` });
    }
  });
}

export function numberInRange(min: number, max: number, hint = '') {
  return z.number().superRefine((value, ctx) => {
    if (!Number.isFinite(value) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `${value} is out of range ${min}..${max}${hint}` });
    }
  });
}

function patterned(pattern: RegExp, maxLength: number, what: string) {
  return z.string().superRefine((value, ctx) => {
    if (value.length === 0) {
      ctx.addIssue({ code: 'custom', message: `must not be empty: expected ${what}` });
    } else if (value.length > maxLength) {
      ctx.addIssue({
        code: 'custom',
        message: `${shown(value)} is ${value.length} characters long; at most ${maxLength} are allowed`,
      });
    } else if (!pattern.test(value)) {
      ctx.addIssue({ code: 'custom', message: `${shown(value)} is not ${what}` });
    }
  });
}

export const identifier = patterned(
  IDENTIFIER,
  32,
  'a valid name: start with a letter, then letters, digits, "_", "-" or "." (no spaces, quotes or braces)',
);

export const interfaceName = patterned(
  INTERFACE,
  15,
  'a valid interface name: letters, digits, "_", "-", "." or "@", at most 15 characters',
);

export const hostname = patterned(HOSTNAME, 253, 'a valid hostname');

export const absolutePath = patterned(
  ABSOLUTE_PATH,
  255,
  'an absolute path made of letters, digits and "._+@/-" (no spaces, quotes or "..")',
).superRefine((value, ctx) => {
  if (value.split('/').includes('..')) {
    ctx.addIssue({ code: 'custom', message: `${shown(value)} must not contain ".." segments` });
  }
});

/** A value placed on a generated command line (check parameters): no whitespace, quotes or braces. */
export const safeToken = patterned(
  SAFE_TOKEN,
  512,
  'allowed here: use no spaces, quotes, backslashes, braces, "#" or "!" (write a regex like /a\\sb/ as /a.b/ or use a substring without spaces)',
);

export const ipv4 = z.string().superRefine((value, ctx) => {
  if (!IPV4.test(value)) ctx.addIssue({ code: 'custom', message: `${shown(value)} is not an IPv4 address` });
});

export const ipv4Cidr = z.string().superRefine((value, ctx) => {
  const [address, prefix, extra] = value.split('/');
  const bits = Number(prefix);
  if (
    extra !== undefined ||
    address === undefined ||
    !IPV4.test(address) ||
    prefix === undefined ||
    !/^\d{1,2}$/.test(prefix) ||
    bits < 1 ||
    bits > 32
  ) {
    ctx.addIssue({
      code: 'custom',
      message: `${shown(value)} is not an IPv4 address with a prefix length, e.g. 192.0.2.50/24`,
    });
  }
});

export const seconds = (min: number, max: number) => intInRange(min, max, ' seconds');
