/** Word lists used by the stopword, Gopher and flagged-word filters. */

/** FineWeb-2's Mandarin stopwords (count-based: >= 2 occurrences) and Gopher's English ones. */
export const STOPWORDS: Record<string, string[]> = {
  zh: ['的', '年', '在', '月', '是', '和', '日', '了', '於', '·', '為', '有', '被', '人', '中', '为', '他', '與', '後', '也', '而', '由'],
  en: ['the', 'be', 'to', 'of', 'and', 'that', 'have', 'with'],
};

/**
 * A small built-in flagged-word list (adult content, gambling, spam) for Chinese and English. Chinese entries are
 * matched as substrings. Extend with the op's `list` param.
 */
export const FLAGGED: string[] = [
  // zh
  '色情', '成人视频', '成人电影', '裸聊', '一夜情', '约炮', '援交', '博彩', '赌博', '六合彩', '时时彩', '百家乐', '老虎机', '网上赌场',
  '代开发票', '办证', '私服', '外挂', '黄色网站', '激情视频', 'av女优', '迷药', '枪支', '毒品',
  // en
  'porn', 'porno', 'pornography', 'xxx', 'nude', 'nudes', 'sex', 'sexy', 'hentai', 'escort', 'casino', 'viagra', 'cialis',
  'gambling', 'blackjack', 'roulette', 'camgirl', 'milf', 'fuck', 'pussy', 'cock', 'dick', 'slut', 'whore',
];
