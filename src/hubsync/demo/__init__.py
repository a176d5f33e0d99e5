"""``hubsync demo``: the whole product on embedded defaults, with a narrated, self-checking tour."""
