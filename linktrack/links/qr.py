"""QR codes of a link's short URL: inline SVG for its page, files to download and print."""

import io

import segno

from ..models import CampaignLink
from .urls import short_url


def _qr(link: CampaignLink) -> segno.QRCode:
    # make_qr, not make: a Micro QR code would be smaller but many phone cameras cannot read it.
    return segno.make_qr(short_url(link.short_code), error="m")


def qr_svg_inline(link: CampaignLink) -> str:
    """SVG markup to embed in a page (segno escapes the title)."""
    return _qr(link).svg_inline(
        scale=5, border=4, dark="#000", light="#fff", omitsize=True, title=f"QR code for {link.short_code}"
    )


def qr_file(link: CampaignLink, kind: str) -> bytes:
    """A printable QR code file: kind "svg" or "png"."""
    buffer = io.BytesIO()
    _qr(link).save(buffer, kind=kind, scale=10, border=4, dark="#000", light="#fff")
    return buffer.getvalue()
