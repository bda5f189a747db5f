/**
 * pino's light build (`pino/browser.js`) takes the options and gives the logger of pino's own types;
 * pino ships no declaration for that file.
 */
declare module 'pino/browser.js' {
  import type { pino } from 'pino';

  const build: typeof pino;
  export default build;
}
