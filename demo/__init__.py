"""``dxmon demo``: the product's story told on the test portals (testsupport.portals).

Not part of the installed product: it lives in the source checkout beside it and needs
the ``demo`` extra (aiosmtpd, for its local mail server). ``make demo`` runs it."""
