//! Advance widths read straight from a TrueType font.
//!
//! Right-aligning amounts, wrapping descriptions and deciding page breaks all need the width of a
//! string before it is drawn, and krilla keeps its glyph metrics private. Reading `cmap` and
//! `hmtx` ourselves is a few dozen lines and adds no dependency. Kerning is ignored, so a measured
//! width can be a fraction of a point wider than the drawn text, which errs on the side of fitting.

/// The horizontal metrics of one font, borrowed from its bytes.
pub(crate) struct FontMetrics {
    data: &'static [u8],
    units_per_em: f32,
    hmtx: usize,
    num_h_metrics: u16,
    cmap: Cmap,
    /// Advances of ASCII characters in em, since almost all invoice text is ASCII.
    ascii: [f32; 128],
}

#[derive(Clone, Copy)]
enum Cmap {
    /// Segment mapping to delta values; covers the Basic Multilingual Plane.
    Format4(usize),
    /// Segmented coverage; covers all of Unicode.
    Format12(usize),
}

impl FontMetrics {
    /// Reads the tables needed for widths; `None` if the font lacks them or is malformed.
    pub(crate) fn parse(data: &'static [u8]) -> Option<Self> {
        let head = table(data, *b"head")?;
        let hhea = table(data, *b"hhea")?;
        let hmtx = table(data, *b"hmtx")?;
        let cmap = choose_cmap(data, table(data, *b"cmap")?)?;
        let units_per_em = f32::from(u16_at(data, head + 18)?);
        let num_h_metrics = u16_at(data, hhea + 34)?;
        if units_per_em == 0.0 || num_h_metrics == 0 {
            return None;
        }
        let mut metrics = Self { data, units_per_em, hmtx, num_h_metrics, cmap, ascii: [0.0; 128] };
        for code in 0u8..128 {
            metrics.ascii[usize::from(code)] = metrics.lookup_advance(char::from(code));
        }
        Some(metrics)
    }

    /// The width of `text` set at `size` points, in points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        let em: f32 = text.chars().map(|c| self.advance(c)).sum();
        em * size
    }

    fn advance(&self, c: char) -> f32 {
        match self.ascii.get(c as usize) {
            Some(a) => *a,
            None => self.lookup_advance(c),
        }
    }

    /// Advance in em; characters the font lacks measure as `.notdef` (glyph 0), as they are drawn.
    fn lookup_advance(&self, c: char) -> f32 {
        let glyph = self.glyph_id(u32::from(c)).unwrap_or(0);
        let index = glyph.min(self.num_h_metrics - 1);
        let units = u16_at(self.data, self.hmtx + 4 * usize::from(index)).unwrap_or(0);
        f32::from(units) / self.units_per_em
    }

    fn glyph_id(&self, c: u32) -> Option<u16> {
        match self.cmap {
            Cmap::Format4(at) => format4_glyph(self.data, at, c),
            Cmap::Format12(at) => format12_glyph(self.data, at, c),
        }
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn usize_at(data: &[u8], at: usize) -> Option<usize> {
    u32_at(data, at).and_then(|v| usize::try_from(v).ok())
}

/// The offset of a table from the font's table directory.
fn table(data: &[u8], tag: [u8; 4]) -> Option<usize> {
    let count = usize::from(u16_at(data, 4)?);
    (0..count).map(|i| 12 + 16 * i).find(|rec| data.get(*rec..rec + 4) == Some(&tag[..])).and_then(|rec| usize_at(data, rec + 8))
}

/// Prefers a full-Unicode subtable, then a BMP one, from the Windows or Unicode platforms.
fn choose_cmap(data: &[u8], cmap: usize) -> Option<Cmap> {
    let count = usize::from(u16_at(data, cmap + 2)?);
    let mut bmp = None;
    for rec in (0..count).map(|i| cmap + 4 + 8 * i) {
        let platform = u16_at(data, rec)?;
        let encoding = u16_at(data, rec + 2)?;
        let at = cmap.checked_add(usize_at(data, rec + 4)?)?;
        let unicode = platform == 0 || (platform == 3 && (encoding == 1 || encoding == 10));
        match u16_at(data, at) {
            Some(12) if unicode => return Some(Cmap::Format12(at)),
            Some(4) if unicode => bmp = bmp.or(Some(Cmap::Format4(at))),
            _ => {}
        }
    }
    bmp
}

fn format4_glyph(data: &[u8], at: usize, c: u32) -> Option<u16> {
    let c = u16::try_from(c).ok()?;
    let seg_x2 = usize::from(u16_at(data, at + 6)?);
    let segments = seg_x2 / 2;
    let ends = at + 14;
    let starts = ends + seg_x2 + 2;
    let deltas = starts + seg_x2;
    let range_offsets = deltas + seg_x2;
    // End codes are sorted, so the first segment ending at or after `c` is the only candidate.
    let (mut lo, mut hi) = (0, segments);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if u16_at(data, ends + 2 * mid)? < c { lo = mid + 1 } else { hi = mid }
    }
    if lo == segments {
        return None;
    }
    let start = u16_at(data, starts + 2 * lo)?;
    if c < start {
        return None;
    }
    let delta = u16_at(data, deltas + 2 * lo)?;
    let range_at = range_offsets + 2 * lo;
    let range_offset = usize::from(u16_at(data, range_at)?);
    if range_offset == 0 {
        return Some(c.wrapping_add(delta));
    }
    let glyph = u16_at(data, range_at + range_offset + 2 * usize::from(c - start))?;
    if glyph == 0 { None } else { Some(glyph.wrapping_add(delta)) }
}

fn format12_glyph(data: &[u8], at: usize, c: u32) -> Option<u16> {
    let groups = usize_at(data, at + 12)?;
    let group = |i: usize| -> Option<(u32, u32, u32)> {
        let g = at + 16 + 12 * i;
        Some((u32_at(data, g)?, u32_at(data, g + 4)?, u32_at(data, g + 8)?))
    };
    let (mut lo, mut hi) = (0, groups);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (start, end, first_glyph) = group(mid)?;
        if c < start {
            hi = mid;
        } else if c > end {
            lo = mid + 1;
        } else {
            return first_glyph.checked_add(c - start).and_then(|g| u16::try_from(g).ok());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dejavu_sans_widths_match_its_published_metrics() {
        let m = FontMetrics::parse(dejavu::sans::regular()).expect("DejaVu Sans parses");
        // DejaVu Sans: 2048 units per em; digits 1303 units, space 651, 'W' 2025.
        assert!((m.width("0", 2048.0) - 1303.0).abs() < 0.01);
        assert!((m.width(" ", 2048.0) - 651.0).abs() < 0.01);
        assert!((m.width("W", 2048.0) - 2025.0).abs() < 0.01);
        // Tabular digits are what lets amounts line up on the right.
        assert_eq!(m.width("1111", 10.0), m.width("8888", 10.0));
        assert!(m.width("€ ü", 10.0) > m.width(" ", 10.0));
    }

    #[test]
    fn bold_is_wider_than_regular() {
        let regular = FontMetrics::parse(dejavu::sans::regular()).expect("regular parses");
        let bold = FontMetrics::parse(dejavu::sans::bold()).expect("bold parses");
        assert!(bold.width("Invoice total", 10.0) > regular.width("Invoice total", 10.0));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(FontMetrics::parse(b"not a font").is_none());
        assert!(FontMetrics::parse(&[]).is_none());
    }
}
