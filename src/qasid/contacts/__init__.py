"""Contacts and contact lists: one contact per number per account, in any number of lists, added
one by one or imported from CSV and XLSX files by the workers."""
