"""The streaming, byte-faithful HTML rewriter (docs/ARCHITECTURE.md, "A request's path").

One tokenizer, scanner.py (its skip loop the C `_skip` when built), hands the few tags that
matter to neutralise.py (as tag.py's StartTag), holds inline scripts and <style> until their
text decides (held.py, css.py) and writes through injector.py, which places the guard and the
banner; foreign.py models <svg> and <math>, selectors.py the operator's CSS selectors. Before
a page can be read: encoding.py (Content-Encoding), charset.py (pages that are no ASCII to
the scanner), mimesniff.py (an untyped body that a browser renders as a page)."""
