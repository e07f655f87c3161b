// Writes <vocab>/vectors_extra.json: the ids the Hugging Face tokenizers
// library gives for stress texts (no special tokens added), as the shared
// test kit made vectors.json. Usage, from this directory:
//   npm install @anush008/tokenizers@0.6.0
//   node gen_vectors.js /path/to/shared/testdata/tokenizers
const fs = require("fs");
const path = require("path");
const { Tokenizer } = require("@anush008/tokenizers");

const texts = [
  " ", "  ", "   ", "\t", "\n", "\r\n", "\r\n\r\n", " \n", "\n ", " \n \n", "a\n\n\nb", "a \n b", "a  \n  b",
  "x\t\ty", "x \t y", "end with space ", "end with tab\t", "  two leading", "\u00a0lead nbsp", "a\u3000b",
  "I'M YOU'RE WE'LL SHE'D IT'S", "'s 'S 't 'T", "don''t", "rock'n'roll", "l'été",
  "1", "12", "123", "1234", "1234567890", "3.14", "1,000,000", "v1.2.3", "0x1F", "१२३ ٤٥٦", "½ ¾ ² ³ Ⅻ",
  "!!", "?!?!", "...", "—", "\"quoted\"", "(a)[b]{c}", "<html><body>x</body></html>", "a+b=c", "$100 ^2 ~x |y",
  "@user #tag", "C:\\path\\to\\file", "snake_case camelCase PascalCase kebab-case",
  "email: a.b@c.de", "https://x.org/p?q=1&r=2#f", "def f(x):\n    return x**2\n",
  "\tindent\n\t\tdeeper", "if (a && b) { return; }", "naïve façade coöperate", "Ελληνικά κείμενο",
  "Русский текст", "עברית", "العربية", "हिन्दी", "ไทย", "日本語のテキスト", "한국어 텍스트", "中文，标点。",
  "emoji 👍🏽 👨‍👩‍👧", "🇫🇷🇩🇪", "e\u0301", "ﬁ ligature", "\u200bzero\u200dwidth", "tab\tnewline\ncr\r",
  "The year 2024 had 366 days.", "x" .repeat(50), "ab".repeat(40), " ".repeat(10) + "x", "\n".repeat(5),
  "<|eot_id|><|im_end|></s><s><unk>", "<think>reason</think>answer", "<tool_call>{\"a\":1}</tool_call>",
];

// Random texts from a pool of characters the splitters treat differently
// (no combining marks: Qwen's NFC normalizer would compose them).
const pool = [..."aeiouAEIOUxyzXYZ'sStTmMdDlLrRvVe0123456789 \t\n\r.,;:!?-_()[]{}<>/\\\"#$%&*+=@^`|~",
  "\u00a0", "\u2009", "\u3000", "é", "Ü", "ß", "Ω", "ж", "ع", "中", "文", "日", "ー", "한", "😀", "🦙", "½", "٣", "Ⅻ", "—", "…", "«", "»"];
let seed = 12345;
function rand(n) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
}
for (let i = 0; i < 150; i++) {
  let s = "";
  const len = 1 + rand(40);
  for (let j = 0; j < len; j++) s += pool[rand(pool.length)];
  texts.push(s);
}

async function main() {
  const root = process.argv[2];
  for (const name of ["llama3", "qwen3", "spm32k"]) {
    const tok = Tokenizer.fromFile(path.join(root, name, "tokenizer.json"));
    const out = [];
    for (const text of texts) {
      const enc = await tok.encode(text, null, { addSpecialTokens: false });
      out.push({ text, ids: enc.getIds() });
    }
    fs.writeFileSync(path.join(name, "vectors_extra.json"), JSON.stringify(out, null, 0).replace(/\},\{/g, "},\n{") + "\n");
  }
}
main();
