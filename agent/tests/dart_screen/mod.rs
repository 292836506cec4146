//! The key regions of a rendered `summary.html`: where Chromium laid them
//! out (from the DOM of the same render) and what the screenshot shows
//! there (colours, contrast).
//!
//! The page itself carries no script. The layout comes from a copy of it
//! with one test-only script at the end of the body, which writes each key
//! element's `getBoundingClientRect()` into a `data-layout` attribute that
//! `--dump-dom` then shows; the copy renders the same (a script and a
//! relaxed Content-Security-Policy change nothing on screen), at the same
//! window size as the screenshot.
#![allow(dead_code)]

use serde::Deserialize;

/// The window both renders use: the width the page is designed for, and
/// tall enough to hold the decisions list below the findings and timeline.
pub const WINDOW: (u32, u32) = (1024, 1800);

/// The first screen a reader sees without scrolling (a 1920x1080 display
/// at 100 %, less the browser's own bars): the legend must be in it.
pub const FIRST_SCREEN_HEIGHT: i32 = 960;

/// WCAG's minimum contrast for body text (AA).
pub const MIN_CONTRAST: f64 = 4.5;

/// Collects the layout; `JSON.stringify` of [`Layout`].
const LAYOUT_SCRIPT: &str = r#"<script>(function () {
  function rect(e) {
    var b = e.getBoundingClientRect();
    return [Math.round(b.left), Math.round(b.top), Math.round(b.right), Math.round(b.bottom)];
  }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  var legend = document.getElementById('legend');
  var decisions = document.getElementById('decisions');
  var layout = {
    findings: all('.finding').map(function (f) {
      var text = f.querySelector('h3 + div');
      return { class: f.className, title: f.querySelector('h3').textContent,
               rect: rect(f), title_rect: rect(f.querySelector('h3')),
               text_rect: text ? rect(text) : null };
    }),
    phase: rect(document.getElementById('phase')),
    legend: legend ? rect(legend) : null,
    swatches: all('#legend .sw').map(function (s) {
      return { rect: rect(s), colour: getComputedStyle(s).backgroundColor };
    }),
    decisions: decisions ? rect(decisions) : null,
    decision_rows: all('#decisions tr').slice(1).map(rect),
    rounds: all('svg circle').map(function (c) {
      return { rect: rect(c), fill: c.getAttribute('fill') };
    })
  };
  document.body.setAttribute('data-layout', JSON.stringify(layout));
})();</script>"#;

/// `left, top, right, bottom` in CSS pixels (= screenshot pixels at a
/// device scale factor of 1).
pub type Rect = [i32; 4];

/// A finding card.
#[derive(Debug, Deserialize)]
pub struct Card {
    /// `finding problem`, `finding warning`, ...
    pub class: String,
    /// Its `<h3>`: `Problem: ...`.
    pub title: String,
    pub rect: Rect,
    pub title_rect: Rect,
    pub text_rect: Option<Rect>,
}

/// A legend entry's swatch and its CSS colour (`rgb(r, g, b)`, or
/// `rgba(0, 0, 0, 0)` for a gradient).
#[derive(Debug, Deserialize)]
pub struct Swatch {
    pub rect: Rect,
    pub colour: String,
}

/// A probe round on the timeline.
#[derive(Debug, Deserialize)]
pub struct Round {
    pub rect: Rect,
    /// `#rrggbb`.
    pub fill: String,
}

/// Where the key regions are.
#[derive(Debug, Deserialize)]
pub struct Layout {
    pub findings: Vec<Card>,
    pub phase: Rect,
    pub legend: Option<Rect>,
    pub swatches: Vec<Swatch>,
    pub decisions: Option<Rect>,
    pub decision_rows: Vec<Rect>,
    pub rounds: Vec<Round>,
}

/// The page with the layout script: the CSP also allows inline scripts.
pub fn layout_page(html: &str) -> String {
    const CSP: &str = "default-src 'none';";
    assert!(html.contains(CSP), "the page's CSP changed: {html}");
    assert!(
        !html.contains("<script"),
        "the page itself carries a script"
    );
    html.replacen(CSP, "default-src 'none'; script-src 'unsafe-inline';", 1)
        .replacen("</body>", &format!("{LAYOUT_SCRIPT}</body>"), 1)
}

/// The layout from the DOM Chromium dumped for [`layout_page`].
pub fn layout_of(dom: &str) -> Layout {
    let start = dom.find("data-layout=\"").expect("the layout script ran") + 13;
    let end = start + dom[start..].find('"').expect("a closed attribute");
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("layout {json}: {e}"))
}

/// The DOM as the page alone renders it: without the layout script and
/// the attribute it wrote.
pub fn without_layout(dom: &str) -> String {
    let mut out = dom.to_string();
    if let Some(start) = out.find(" data-layout=\"") {
        let end = start + 14 + out[start + 14..].find('"').expect("a closed attribute") + 1;
        out.replace_range(start..end, "");
    }
    if let Some(start) = out.find("<script>") {
        let end = start + out[start..].find("</script>").expect("a closed script") + 9;
        out.replace_range(start..end, "");
    }
    out
}

/// A decoded screenshot, RGB.
pub struct Shot {
    pub width: i32,
    pub height: i32,
    rgb: Vec<[u8; 3]>,
}

impl std::fmt::Debug for Shot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shot({}x{})", self.width, self.height)
    }
}

impl Shot {
    /// Decodes Chromium's PNG (8-bit RGB or RGBA).
    pub fn decode(png_bytes: &[u8]) -> Shot {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "{info:?}");
        let step = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Shot {
            width: i32::try_from(info.width).unwrap(),
            height: i32::try_from(info.height).unwrap(),
            rgb,
        }
    }

    /// The pixel at (x, y).
    pub fn at(&self, x: i32, y: i32) -> [u8; 3] {
        assert!(
            (0..self.width).contains(&x) && (0..self.height).contains(&y),
            "({x}, {y}) is outside the {}x{} screenshot",
            self.width,
            self.height
        );
        self.rgb[usize::try_from(y * self.width + x).unwrap()]
    }

    /// Every pixel of `r` (which must lie in the screenshot).
    pub fn pixels(&self, r: Rect) -> Vec<[u8; 3]> {
        assert!(self.contains(r), "{r:?} is not in the {self:?}");
        let mut out = Vec::new();
        for y in r[1]..r[3] {
            for x in r[0]..r[2] {
                out.push(self.at(x, y));
            }
        }
        out
    }

    /// Whether `r` lies wholly in the screenshot (and is not empty).
    pub fn contains(&self, r: Rect) -> bool {
        r[0] >= 0
            && r[1] >= 0
            && r[2] <= self.width
            && r[3] <= self.height
            && r[0] < r[2]
            && r[1] < r[3]
    }

    /// The most frequent colour of `r`: a card's background.
    pub fn dominant(&self, r: Rect) -> [u8; 3] {
        let mut counts = std::collections::HashMap::new();
        for p in self.pixels(r) {
            *counts.entry(p).or_insert(0usize) += 1;
        }
        counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
    }

    /// The contrast ratio (WCAG) between the darkest and the lightest
    /// pixel of `r`: text in it is readable when this is at least
    /// [`MIN_CONTRAST`] (anti-aliasing only lowers it).
    pub fn contrast(&self, r: Rect) -> f64 {
        let lum: Vec<f64> = self.pixels(r).into_iter().map(luminance).collect();
        let dark = lum.iter().copied().fold(f64::INFINITY, f64::min);
        let light = lum.iter().copied().fold(0.0, f64::max);
        (light + 0.05) / (dark + 0.05)
    }
}

/// WCAG relative luminance of an sRGB colour.
pub fn luminance(p: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(p[0]) + 0.7152 * lin(p[1]) + 0.0722 * lin(p[2])
}

/// `#rrggbb` or `rgb(r, g, b)` as RGB; `None` for a transparent or other
/// form.
pub fn parse_colour(c: &str) -> Option<[u8; 3]> {
    if let Some(hex) = c.strip_prefix('#') {
        let v = u32::from_str_radix(hex, 16).ok()?;
        let [_, r, g, b] = v.to_be_bytes();
        return (hex.len() == 6).then_some([r, g, b]);
    }
    let inner = c.strip_prefix("rgb(")?.strip_suffix(')')?;
    let parts: Vec<u8> = inner
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() == 3).then(|| [parts[0], parts[1], parts[2]])
}

/// Whether two colours are the same up to rendering noise (colour
/// management, anti-aliasing at a sampled centre).
pub fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 8)
}

/// The centre of `r`.
pub fn centre(r: Rect) -> (i32, i32) {
    ((r[0] + r[2]) / 2, (r[1] + r[3]) / 2)
}
