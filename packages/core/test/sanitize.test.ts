/**
 * PROTOCOL.md §5 `content-html` and §6 "Content": received HTML is sanitized with an
 * allow-list. Attack rows assert that nothing executable survives; formatting rows
 * assert that ordinary messages come through intact.
 */
import { JSDOM } from "jsdom";
import { describe, expect, it } from "vitest";
import { LINK_REL, escapeHtmlText, outputLimit, sanitizeHtml } from "../src/sanitize.js";

/** Everything that could run script, load something, or restyle the page. */
const EXECUTABLE = [
  /<script/i,
  /<iframe/i,
  /<object/i,
  /<embed/i,
  /<svg/i,
  /<math/i,
  /<style/i,
  /<img/i,
  /<form/i,
  /<input/i,
  /<button/i,
  /<meta/i,
  /<link/i,
  /<base/i,
  /<template/i,
  /<noscript/i,
  /\son[a-z]+\s*=/i,
  /javascript:/i,
  /vbscript:/i,
  /data:/i,
  /\sstyle\s*=/i,
  /\sclass\s*=/i,
  /\sid\s*=/i,
  /\ssrc(set)?\s*=/i,
  /expression\s*\(/i,
];

/** Parses the output as a browser would and checks the tree, not just the text. */
function assertInert(output: string): void {
  for (const pattern of EXECUTABLE) expect(output, `matches ${pattern}`).not.toMatch(pattern);
  const { document } = new JSDOM(`<body>${output}</body>`).window;
  for (const element of document.body.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      expect(["href", "title", "colspan", "rowspan", "rel"]).toContain(attribute.name);
      if (attribute.name === "href") expect(attribute.value).toMatch(/^(https?|mailto):/i);
    }
  }
}

describe("§6 Content: attacks leave nothing executable", () => {
  const attacks: Array<[string, string]> = [
    ["script element", "<p>hi</p><script>alert(1)</script>"],
    ["script with src", '<script src="https://evil.example/x.js"></script>'],
    ["img onerror", '<img src=x onerror="alert(1)">'],
    ["event handler on allowed tag", '<p onclick="alert(1)" onmouseover=alert(2)>x</p>'],
    ["javascript: href", '<a href="javascript:alert(1)">click</a>'],
    ["javascript: href, obfuscated case and whitespace", '<a href=" JaVaScRiPt:alert(1)">x</a><a href="java\tscript:alert(1)">y</a>'],
    ["javascript: href, entity-encoded", '<a href="&#106;avascript:alert(1)">x</a><a href="javascript&colon;alert(1)">y</a>'],
    ["data: href", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'],
    ["vbscript: href", '<a href="vbscript:msgbox(1)">x</a>'],
    ["svg onload", '<svg onload="alert(1)"><circle r=1 /></svg>'],
    ["svg with script", "<svg><script>alert(1)</script></svg>"],
    ["svg animate href", '<svg><a><animate attributeName=href values="javascript:alert(1)" /><text y=20>x</text></a></svg>'],
    ["math with href", '<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>'],
    ["style attribute expression", '<p style="width: expression(alert(1))">x</p>'],
    ["style element", "<style>body{background:url(javascript:alert(1))}</style><p>x</p>"],
    ["iframe srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>'],
    ["object and embed", '<object data="x.swf"></object><embed src="x.swf">'],
    ["form and button formaction", '<form action="javascript:alert(1)"><button formaction="javascript:alert(2)">go</button></form>'],
    ["meta refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'],
    ["base hijack", '<base href="javascript:alert(1)//"><a href="/x">x</a>'],
    ["details ontoggle", "<details open ontoggle=alert(1)>"],
    ["body onload", "<body onload=alert(1)>"],
    ["mXSS: noscript/title breakout", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'],
    ["mXSS: svg/style namespace confusion", '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">'],
    ["mXSS: math/mglyph/style", '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;">'],
    ["mXSS: form in form", "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>"],
    ["mXSS: template", "<template><img src=x onerror=alert(1)></template>"],
    ["mXSS: comment breakout", '<!--<img src="--><img src=x onerror=alert(1)//">'],
    ["mXSS: textarea", "<textarea></textarea><img src=x onerror=alert(1)>"],
    ["nested dangerous in allowed", '<blockquote><p><em><a href="javascript:void(0)" onclick="x()">y</a></em></p></blockquote>'],
    ["tracking pixel", '<p>hi<img src="https://tracker.example/pixel.gif" width=1 height=1></p>'],
    ["class and id for CSS/DOM clobbering", '<p class="admin" id="login">x</p><a id=defaultView name=body>y</a>'],
    ["data and aria attributes", '<p data-x="1" aria-label="y">z</p>'],
    ["srcset", '<p><img srcset="https://tracker.example/a.png 1x"></p>'],
    ["target and ping on links", '<a href="https://a.example/" target=_blank ping="https://tracker.example/">x</a>'],
  ];

  it.each(attacks)("%s", (_name, payload) => {
    assertInert(sanitizeHtml(payload));
  });

  it("drops the content of script-like elements, keeps text of unknown ones", () => {
    expect(sanitizeHtml("<script>alert(1)</script><div>kept</div>")).toBe("kept");
  });
});

describe("§5 content-html: formatting is kept", () => {
  const rows: Array<[string, string, string]> = [
    ["paragraphs and line breaks", "<p>one<br>two</p><p>three</p>", "<p>one<br>two</p><p>three</p>"],
    ["emphasis", "<em>a</em> <strong>b</strong> <b>c</b> <i>d</i> <u>e</u> <s>f</s>", "<em>a</em> <strong>b</strong> <b>c</b> <i>d</i> <u>e</u> <s>f</s>"],
    ["edits and scripts", "<del>x</del><ins>y</ins>H<sub>2</sub>O x<sup>2</sup>", "<del>x</del><ins>y</ins>H<sub>2</sub>O x<sup>2</sup>"],
    ["quotes", "<blockquote><p>q</p></blockquote><q>inline</q> <cite>Book</cite>", "<blockquote><p>q</p></blockquote><q>inline</q> <cite>Book</cite>"],
    ["abbr with title", '<abbr title="IndieWeb">IW</abbr>', '<abbr title="IndieWeb">IW</abbr>'],
    ["code", "<pre><code>let x = 1 &lt; 2;</code></pre> <code>y</code>", "<pre><code>let x = 1 &lt; 2;</code></pre> <code>y</code>"],
    ["lists", "<ul><li>a</li></ul><ol><li>b</li></ol>", "<ul><li>a</li></ul><ol><li>b</li></ol>"],
    [
      "headings and rule",
      "<h1>1</h1><h2>2</h2><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6><hr>",
      "<h1>1</h1><h2>2</h2><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6><hr>",
    ],
    ["span", "<span>s</span>", "<span>s</span>"],
    [
      "table",
      '<table><caption>c</caption><thead><tr><th colspan="2">h</th></tr></thead><tbody><tr><td rowspan="1">a</td><td>b</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>',
      '<table><caption>c</caption><thead><tr><th colspan="2">h</th></tr></thead><tbody><tr><td rowspan="1">a</td><td>b</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>',
    ],
    [
      "https link gets rel",
      '<a href="https://bob.example/post?x=1&amp;y=2">post</a>',
      `<a href="https://bob.example/post?x=1&amp;y=2" rel="${LINK_REL}">post</a>`,
    ],
    ["http link gets rel", '<a href="http://bob.example/">b</a>', `<a href="http://bob.example/" rel="${LINK_REL}">b</a>`],
    ["mailto link", '<a href="mailto:bob@example.com">mail</a>', `<a href="mailto:bob@example.com" rel="${LINK_REL}">mail</a>`],
    ["sender's rel replaced", '<a href="https://a.example/" rel="me opener">a</a>', `<a href="https://a.example/" rel="${LINK_REL}">a</a>`],
    ["relative link loses its href", '<a href="/local">x</a>', "<a>x</a>"],
    ["anchor without href has no rel", "<a>x</a>", "<a>x</a>"],
    ["unknown elements keep their text", "<div><article>text</article></div>", "text"],
    ["plain text is escaped, not interpreted", "1 < 2 & 3 > 2", "1 &lt; 2 &amp; 3 &gt; 2"],
    ["empty", "", ""],
    ["unicode", "<p>héllo 👋</p>", "<p>héllo 👋</p>"],
  ];

  it.each(rows)("%s", (_name, input, expected) => {
    expect(sanitizeHtml(input)).toBe(expected);
  });

  it("reuses one window across calls without leaking state between them", () => {
    const first = sanitizeHtml('<a href="https://a.example/">a</a>');
    for (let i = 0; i < 50; i++) sanitizeHtml("<p>x</p><script>1</script>");
    expect(sanitizeHtml('<a href="https://a.example/">a</a>')).toBe(first);
  });
});

describe("§6 Content: HTML_LIMITS are counted on the tree DOMPurify walks (issue 9 items 1, 2)", () => {
  const bTitles = (n: number) => Array.from({ length: n }, (_, i) => `<b title="t${i}">`).join("");
  // name, input, whether the formatting is kept (else: the text, escaped)
  const rows: Array<[string, string, boolean]> = [
    ["500 elements: at the limit, sanitized", "<span>x</span>".repeat(500), true],
    ["501 elements: over, its text", "<span>x</span>".repeat(501), false],
    ["<![CDATA[> hides nothing from the count (htmlparser2 saw one comment)", `<![CDATA[>${"<span>x</span>".repeat(501)}`, false],
    ["formatting re-opened in each paragraph is counted (60 <b> × 430 <p>)", `<p>${bTitles(60)}${"<p>x".repeat(430)}`, false],
    ["comments count as nodes", `<p>${"<!--c-->x".repeat(501)}`, false],
    ["1,001 attributes on one element", `<p${Array.from({ length: 1_001 }, (_, i) => ` a${i}`).join("")}>x</p>`, false],
    ["64 deep: at the limit", `${"<span>".repeat(64)}x`, true],
    ["65 deep: over", `${"<span>".repeat(65)}x`, false],
    ["over 128 KiB of input: not parsed", `<b>${"x".repeat(128 * 1024)}</b>`, false],
  ];

  it.each(rows)("%s", (_name, input, kept) => {
    const output = sanitizeHtml(input);
    if (kept) expect(output).toMatch(/^<span>|<span>/);
    else expect(output).not.toMatch(/</);
    expect(Buffer.byteLength(output)).toBeLessThanOrEqual(outputLimit(Buffer.byteLength(input)));
  });

  it("output over 4× the input (+1 KiB) is stored as text: re-opened titles cannot multiply", () => {
    // 8 long titles re-opened in 50 paragraphs: 458 elements, within the count, 40× the bytes.
    const input = `<p>${Array.from({ length: 8 }, (_, i) => `<b title="${"t".repeat(1_000)}${i}">`).join("")}${"<p>x".repeat(50)}`;
    const output = sanitizeHtml(input);
    expect(output).toBe("x".repeat(50));
  });

  it("leading whitespace is kept, as DOMPurify keeps it for a string", () => {
    expect(sanitizeHtml("  <b>x</b>")).toBe("  <b>x</b>");
  });

  it("escapeHtmlText escapes everything markup-like and cuts within the bound, never inside a reference", () => {
    expect(escapeHtmlText(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    const cut = escapeHtmlText("<".repeat(100), 50);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(50);
    expect(cut).toMatch(/^(&lt;)+…$/);
  });
});
