"""Credits: estimate, reserve before the upstream call, settle after it, sweep the orphans."""
