"""Drop-in mirrors of other libraries' APIs on top of :mod:`audiofx.functional`."""
