"""Reports: printable documents rendered from our own templates, never from tenant-supplied markup."""
