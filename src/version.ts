/** hactl's version, injected at build time (esbuild) and test time (vitest) from package.json. */
declare const HACTL_VERSION: string;
export const version: string = typeof HACTL_VERSION === 'string' ? HACTL_VERSION : '0.0.0-dev';
