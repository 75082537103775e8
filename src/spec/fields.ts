/**
 * Field types shared by the spec schema. Every value that can reach keepalived.conf or a command
 * line is restricted here to a character set that needs no quoting or escaping anywhere, so that
 * nothing a user writes can inject text into a rendered file.
 *
 * The checks are refinements (for messages that name the rule and the fix), which zod cannot turn
 * into JSON Schema; each one therefore also carries, as metadata, the JSON Schema keywords that say
 * the same thing (built from the same regular expression and bounds), so `hactl schema` rejects in
 * an editor what the loader rejects. test/schema/ proves the two agree on a corpus.
 */
import { z } from 'zod';

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._+@/-]*$/;
// Printable ASCII without space, quotes, backslash, braces or `#`/`!` (keepalived comment starters).
const SAFE_CHARS_BUT_SLASH = 'A-Za-z0-9._~:?&=%+,@;$*()[\\]^|<>-';
const SAFE_TOKEN = new RegExp(`^[/${SAFE_CHARS_BUT_SLASH}]+$`);
/** A safe token that is an http:// or https:// URL with something after the "//". */
export const HTTP_URL = new RegExp(`^https?://[${SAFE_CHARS_BUT_SLASH}][/${SAFE_CHARS_BUT_SLASH}]*$`);
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_BODY = `${OCTET}(\\.${OCTET}){3}`;
const IPV4 = new RegExp(`^${IPV4_BODY}$`);
const PORT = '([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])';
/** An IPv4 address and a port 1..65535, e.g. 127.0.0.1:9642. */
const LISTEN = new RegExp(`^${IPV4_BODY}:${PORT}$`);
// A prefix length of 1..32, written with at most two digits (so "/08" is 8, as before).
const IPV4_CIDR = new RegExp(`^${IPV4_BODY}/(0?[1-9]|[12]\\d|3[0-2])$`);
/** A ".." path segment: refused in absolute paths. */
const DOT_DOT_SEGMENT = /(^|\/)\.\.(\/|$)/;

function shown(value: string): string {
  return value.length > 40 ? JSON.stringify(value.slice(0, 40)) + '…' : JSON.stringify(value);
}

export function intInRange(min: number, max: number, hint = '') {
  return z
    .number()
    .superRefine((value, ctx) => {
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${value} is out of range ${min}..${max}${hint}` });
      }
    })
    .meta({ type: 'integer', minimum: min, maximum: max });
}

export function numberInRange(min: number, max: number, hint = '') {
  return z
    .number()
    .superRefine((value, ctx) => {
      if (!Number.isFinite(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${value} is out of range ${min}..${max}${hint}` });
      }
    })
    .meta({ minimum: min, maximum: max });
}

function patterned(pattern: RegExp, maxLength: number, what: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
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
    })
    .meta({ pattern: pattern.source, minLength: 1, maxLength });
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
)
  .superRefine((value, ctx) => {
    if (DOT_DOT_SEGMENT.test(value)) {
      ctx.addIssue({ code: 'custom', message: `${shown(value)} must not contain ".." segments` });
    }
  })
  .meta({ not: { type: 'string', pattern: DOT_DOT_SEGMENT.source } });

/**
 * A sync source directory: an absolute path in which `{node}` stands for this node's name (nodes
 * that share one filesystem, like the lab's, keep their copies apart that way).
 */
const SYNC_SOURCE = /^\/([A-Za-z0-9._+@/-]|\{node\})*$/;
export const syncSourcePath = patterned(
  SYNC_SOURCE,
  255,
  'an absolute path made of letters, digits and "._+@/-", where {node} stands for the node\'s name (no spaces, quotes or "..")',
)
  .superRefine((value, ctx) => {
    if (DOT_DOT_SEGMENT.test(value)) {
      ctx.addIssue({ code: 'custom', message: `${shown(value)} must not contain ".." segments` });
    }
  })
  .meta({ not: { type: 'string', pattern: DOT_DOT_SEGMENT.source } });

/** A value placed on a generated command line (check parameters): no whitespace, quotes or braces. */
export const safeToken = patterned(
  SAFE_TOKEN,
  512,
  'allowed here: use no spaces, quotes, backslashes, braces, "#" or "!" (write a regex like /a\\sb/ as /a.b/ or use a substring without spaces)',
);

export const ipv4 = z
  .string()
  .superRefine((value, ctx) => {
    if (!IPV4.test(value))
      ctx.addIssue({ code: 'custom', message: `${shown(value)} is not an IPv4 address` });
  })
  .meta({ pattern: IPV4.source, format: 'ipv4' });

export const ipv4Cidr = z
  .string()
  .superRefine((value, ctx) => {
    if (!IPV4_CIDR.test(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `${shown(value)} is not an IPv4 address with a prefix length, e.g. 192.0.2.50/24`,
      });
    }
  })
  .meta({ pattern: IPV4_CIDR.source });

export const listenAddress = z
  .string()
  .superRefine((value, ctx) => {
    if (!LISTEN.test(value))
      ctx.addIssue({
        code: 'custom',
        message: `${shown(value)} is not an IPv4 address and a port 1..65535, e.g. 127.0.0.1:9642`,
      });
  })
  .meta({ pattern: LISTEN.source });

/** Appended to a description whose rule spans several fields: JSON Schema cannot say it. */
export const LINT_ONLY = '(checked by hactl lint; JSON Schema cannot express it)';
