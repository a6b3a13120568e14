"""`python -m tracker.helpdesks` prints the README's table of helpdesks, made from their modules."""

from tracker.helpdesks import readme_table

print(readme_table())
