"""The ETL-family file formats: ETL9G and the other layouts (M-, B-, G-type).

The one owner of each binary layout. Imports numpy and `kanjinet.core` only.
"""
