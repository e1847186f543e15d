"""Parse the HTML that aekit's objects give a notebook (``_repr_html_``): tags must balance, tables are read back."""

from html.parser import HTMLParser

VOID = {"img", "br", "hr", "meta", "input"}


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open, self.tables, self.images, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            if tag == "img":
                self.images.append(dict(attrs))
            return
        self.open.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:] or 'nothing'}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.open and self.open[-1] in ("td", "th"):
            self.tables[-1][-1][-1] += data


def parse_html(text):
    """(tables as lists of rows of cell texts, <img> attributes, all text); fails on unbalanced tags."""
    parser = _Tables()
    parser.feed(text)
    parser.close()
    assert parser.open == [], f"unclosed tags: {parser.open}"
    return parser.tables, parser.images, "".join(parser.text)
