/**
 * data-juicer's default patterns of the regex cleaners (clean_email, clean_ip, clean_links): the recipe params'
 * defaults (filters/op-meta.ts) and the fast paths of filters/mappers.ts, in a module of their own so that the
 * operators' metadata does not import the mappers.
 */
const W = '[\\p{L}\\p{N}\\p{M}_]'; // Python `regex` \w (Unicode)
export const EMAIL_PATTERN = '[A-Za-z0-9.\\-+_]+@[a-z0-9.\\-+_]+\\.[a-z]+';
export const IP_PATTERN =
  '(?:(?:1[0-9][0-9]\\.)|(?:2[0-4][0-9]\\.)|(?:25[0-5]\\.)|(?:[1-9][0-9]\\.)|(?:[0-9]\\.)){3}(?:(?:1[0-9][0-9])|(?:2[0-4][0-9])|(?:25[0-5])|(?:[1-9][0-9])|(?:[0-9]))|([\\da-fA-F]{1,4}:){7}[\\da-fA-F]{1,4}';
/** data-juicer's link pattern, with Python's Unicode \b and \w made explicit and its (?i) spelled out as [a-zA-Z] (faster in V8 than the i flag). */
export const LINK_PATTERN =
  `(?<!${W})(` +
  `(?:[a-zA-Z]${W.slice(0, -1)}-]+:(?:\\/{1,3}|[a-zA-Z0-9%])|[wW][wW][wW]\\d{0,3}[.]|[a-zA-Z0-9.\\-]+[.][a-zA-Z]{2,4}\\/)` +
  // data-juicer: (?:[^\s()<>]+|\(([^\s()<>]+|(\([^\s()<>]+\)))*\))+ — same language without nested quantifiers
  // (no catastrophic backtracking)
  `(?:[^\\s()<>]|\\((?:[^\\s()<>]|\\([^\\s()<>]+\\))*\\))+` +
  `(?:\\((?:[^\\s()<>]|\\([^\\s()<>]+\\))*\\)|[^\\s\`!()\\[\\]{};:'".,<>?«»“”‘’])` +
  `)`;
