"""Everything that presents assessment results: SVG charts, and the PDF and Excel evidence reports."""
