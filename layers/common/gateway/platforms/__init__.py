"""What the seed platforms (YouRouter, PotatoRouter, the credits platform, ARouter, poeti) document
beyond the providers' own formats: their routes' views, envelopes and names, kept apart from the
inference pipeline. README.md has the table of each platform's examples and the gateway's answers."""
